package media

import (
	"context"
	"errors"
	"fmt"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/validate"
)

// Download is one variant of a READY file, opened for serving.
type Download struct {
	File        File
	Variant     Variant
	ContentType string
	// Disposition is the Content-Disposition header: inline only for checked raster images.
	Disposition string
	Object      Object
}

// OpenDownload opens variant of a READY file for the download route. Avatars need nothing
// more; any other file needs the expires and sig of a URL this service signed. rng is an HTTP
// Range header value, or "". Errors: domainerr.ErrNotFound (no such READY file or variant, or a malformed
// id), domainerr.ErrPermissionDenied wrapping ErrLinkExpired or ErrLinkInvalid.
func (s *Service) OpenDownload(ctx context.Context, fileID, variant, expires, sig, rng string) (Download, error) {
	notFound := domainerr.Errorf(domainerr.ErrNotFound, "no such file")
	id, err := validate.UUID("file_id", fileID)
	if err != nil || id != fileID {
		return Download{}, notFound
	}
	v, ok := ParseVariant(variant)
	if !ok {
		return Download{}, notFound
	}
	f, err := s.store.Get(ctx, id)
	if errors.Is(err, domainerr.ErrNotFound) {
		return Download{}, notFound
	}
	if err != nil {
		return Download{}, err
	}
	if f.Status != StatusReady || (v != VariantOriginal && f.ThumbType == "") {
		return Download{}, notFound
	}
	if f.Purpose != PurposeAvatar {
		if err := s.urls.Verify(id, v, expires, sig, s.now()); err != nil {
			return Download{}, domainerr.Wrap(domainerr.ErrPermissionDenied, err, "%s", err.Error())
		}
	}
	d := Download{File: f, Variant: v, ContentType: f.ContentType, Disposition: Disposition(f.Name, f.ContentType)}
	if v != VariantOriginal {
		d.ContentType, d.Disposition = f.ThumbType, "inline"
	}
	key, err := ObjectKey(id, v)
	if err != nil {
		return Download{}, err
	}
	obj, err := s.objects.Open(ctx, key, rng)
	if errors.Is(err, ErrObjectNotFound) {
		return Download{}, notFound
	}
	if err != nil {
		return Download{}, fmt.Errorf("open %s: %w", key, err)
	}
	d.Object = obj
	return d, nil
}

// URLs returns f's download URLs as of now.
func (s *Service) URLs(f File) FileURLs { return s.urls.URLs(f, s.now()) }

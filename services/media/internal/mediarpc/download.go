package mediarpc

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/services/media/internal/media"
)

// DownloadPattern is the download route's http.ServeMux pattern (it answers HEAD too).
const DownloadPattern = "GET " + media.FilesPath + "{id}/{variant}"

// singleRange is the one Range form passed on to storage; anything else is served whole.
var singleRange = regexp.MustCompile(`^bytes=(\d+-\d*|-\d+)$`)

// Download serves GET /media/files/<id>/<variant>: a READY file's bytes streamed from storage,
// always with the Content-Type this service decided, X-Content-Type-Options: nosniff, a
// Content-Disposition that is inline only for checked raster images (attachment, a download,
// for anything else) and a Content-Security-Policy that forbids active content. Avatars are
// public; everything else needs a URL signed by this service that has not expired.
type Download struct {
	svc    *media.Service
	logger *slog.Logger
	now    func() time.Time
}

// NewDownload returns the download handler.
func NewDownload(svc *media.Service, logger *slog.Logger, now func() time.Time) *Download {
	if now == nil {
		now = time.Now
	}
	return &Download{svc: svc, logger: logger, now: now}
}

func (d *Download) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Referrer-Policy", "no-referrer")
	rng := r.Header.Get("Range")
	if !singleRange.MatchString(rng) {
		rng = ""
	}
	q := r.URL.Query()
	dl, err := d.svc.OpenDownload(r.Context(), r.PathValue("id"), r.PathValue("variant"), q.Get("expires"), q.Get("sig"), rng)
	switch {
	case errors.Is(err, domainerr.ErrNotFound):
		http.Error(w, "not found", http.StatusNotFound)
		return
	case errors.Is(err, domainerr.ErrPermissionDenied):
		h.Set("Cache-Control", "no-store")
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	case errors.Is(err, media.ErrRangeNotSatisfiable):
		http.Error(w, "range not satisfiable", http.StatusRequestedRangeNotSatisfiable)
		return
	case err != nil:
		d.logger.ErrorContext(r.Context(), "download", slog.String("path", r.URL.Path), slog.Any("error", err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer dl.Object.Body.Close()

	h.Set("Content-Type", dl.ContentType)
	h.Set("Content-Disposition", dl.Disposition)
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Length", strconv.FormatInt(dl.Object.Size, 10))
	if dl.File.Purpose == media.PurposeAvatar {
		// An id and variant never change bytes: cache for good.
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else if exp, err := strconv.ParseInt(q.Get("expires"), 10, 64); err == nil {
		h.Set("Cache-Control", "private, max-age="+strconv.FormatInt(max(0, exp-d.now().Unix()), 10))
	}
	status := http.StatusOK
	if dl.Object.ContentRange != "" {
		h.Set("Content-Range", dl.Object.ContentRange)
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, dl.Object.Body); err != nil {
		d.logger.WarnContext(r.Context(), "download interrupted", slog.String("path", r.URL.Path), slog.Any("error", err))
	}
}

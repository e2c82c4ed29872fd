package chat

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/validate"
)

// File is a media file as the media service describes it to the caller.
type File struct {
	ID          string
	OwnerID     string
	Purpose     FilePurpose
	Status      FileStatus
	ChatID      string // the chat an attachment was uploaded for; "" for avatars
	Name        string
	ContentType string
	SizeBytes   int64
	Width       int32
	Height      int32
	URL         string // "" unless READY
	// ThumbnailURL is the 256x256 thumbnail; "" unless a READY image.
	ThumbnailURL string
	URLExpiresAt time.Time
}

// FilePurpose is what a file was uploaded for, named as parley.media.v1.FilePurpose names it.
type FilePurpose string

// The purpose a file must have to be attached.
const PurposeAttachment FilePurpose = "FILE_PURPOSE_ATTACHMENT"

// FileStatus is where a file is in its life, named as parley.media.v1.FileStatus names it.
type FileStatus string

// File statuses the send path tells apart.
const (
	StatusReady    FileStatus = "FILE_STATUS_READY"
	StatusRejected FileStatus = "FILE_STATUS_REJECTED"
)

// Files asks the media service about files on behalf of the user of ctx (mediaclient implements
// it): that user's access token is forwarded, so the answer holds only the files they may see —
// their own in any status, and READY ones of chats they take part in.
type Files interface {
	// Files returns, by id, the files among ids that exist and the user may see. It fails with
	// domainerr.ErrUnavailable when the media service cannot answer.
	Files(ctx context.Context, ids []string) (map[string]File, error)
}

// checkAttachments asks the media service, on the sender's behalf, about every file m attaches
// and requires each to be the sender's own, uploaded as an attachment for m's chat, and READY.
// It fills the attachments' metadata (and this moment's URLs, for the response) from the answer.
// Every bad attachment is reported at once, by its index in attachment_file_ids.
func (s *Service) checkAttachments(ctx context.Context, m *NewMessage) error {
	if s.files == nil {
		return domainerr.Errorf(domainerr.ErrUnavailable, "attachments cannot be checked: this chat service has no media service configured")
	}
	files, err := s.files.Files(ctx, FileIDs(m.Attachments))
	if err != nil {
		return err
	}
	var problems validate.Problems
	for i := range m.Attachments {
		a := &m.Attachments[i]
		f, ok := files[a.FileID]
		problem := ""
		switch {
		case !ok:
			problem = "no such file of yours; upload it with parley.media.v1.MediaService first"
		case !strings.EqualFold(f.OwnerID, m.SenderID):
			problem = "the file is not yours; attach only files you uploaded"
		case f.Purpose != PurposeAttachment:
			problem = fmt.Sprintf("the file was uploaded as %s, not as an attachment; upload it with purpose %s and this chat's id", f.Purpose, PurposeAttachment)
		case f.Status == StatusRejected:
			problem = "the upload was rejected; upload the file again"
		case f.Status != StatusReady:
			problem = fmt.Sprintf("the file is not ready (%s); finish the upload with CompleteUpload first", f.Status)
		case !strings.EqualFold(f.ChatID, m.ChatID):
			problem = "the file was uploaded for another chat; upload it for this one"
		}
		if problem != "" {
			problems.Addf("attachment_file_ids[%d]: %s", i, problem)
			continue
		}
		*a = Attachment{FileID: a.FileID, Name: f.Name, ContentType: f.ContentType, SizeBytes: f.SizeBytes, Width: f.Width, Height: f.Height,
			URL: f.URL, ThumbnailURL: f.ThumbnailURL, URLExpiresAt: f.URLExpiresAt}
	}
	return problems.Err()
}

// fillURLs gives the attachments of msgs fresh URLs for the user of ctx, with one Files call for
// all of them (the media service applies its access rules to that user). When the media service
// cannot answer, the messages keep their metadata without URLs: a listing must not fail because
// downloads are unavailable, and clients can ask parley.media.v1.MediaService/GetFile later.
func (s *Service) fillURLs(ctx context.Context, msgs ...*Message) {
	if s.files == nil {
		return
	}
	var ids []string
	seen := map[string]bool{}
	for _, m := range msgs {
		for _, a := range m.Attachments {
			if !seen[a.FileID] {
				seen[a.FileID] = true
				ids = append(ids, a.FileID)
			}
		}
	}
	if len(ids) == 0 {
		return
	}
	files, err := s.files.Files(ctx, ids)
	if err != nil {
		if ctx.Err() == nil {
			s.logger.WarnContext(ctx, "attachment URLs left out: the media service did not answer", slog.Int("files", len(ids)), slog.Any("error", err))
		}
		return
	}
	for _, m := range msgs {
		for i := range m.Attachments {
			a := &m.Attachments[i]
			if f, ok := files[a.FileID]; ok && f.Status == StatusReady {
				a.URL, a.ThumbnailURL, a.URLExpiresAt = f.URL, f.ThumbnailURL, f.URLExpiresAt
			}
		}
	}
}

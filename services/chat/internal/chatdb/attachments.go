package chatdb

import (
	"strings"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/services/chat/internal/chat"
)

// storedAttachment is one element of messages.attachments (jsonb): what the media service said
// about a file when the message was sent. URLs are never stored.
type storedAttachment struct {
	FileID      string `json:"file_id"`
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	SizeBytes   int64  `json:"size_bytes"`
	Width       int32  `json:"width,omitempty"`
	Height      int32  `json:"height,omitempty"`
}

// storedAttachments returns what the messages row keeps of attachments: the ids for
// attachment_ids and the metadata for attachments, both in order and never nil (the columns are
// NOT NULL; a nil slice would be SQL NULL or JSON null).
func storedAttachments(attachments []chat.Attachment) (ids []string, meta []storedAttachment) {
	ids = make([]string, len(attachments))
	meta = make([]storedAttachment, len(attachments))
	for i, a := range attachments {
		ids[i] = a.FileID
		meta[i] = storedAttachment{FileID: a.FileID, Name: a.Name, ContentType: a.ContentType, SizeBytes: a.SizeBytes, Width: a.Width, Height: a.Height}
	}
	return ids, meta
}

// attachmentsOf rebuilds a message's attachments from its two columns. attachment_ids decides
// which files and their order; a message stored before attachments carried metadata (or by a
// replica that did not know the column yet) has none, and is returned with its ids only.
func attachmentsOf(ids []string, meta []storedAttachment) []chat.Attachment {
	if len(ids) == 0 {
		return nil
	}
	out := make([]chat.Attachment, len(ids))
	for i, id := range ids {
		out[i] = chat.Attachment{FileID: id}
		if i < len(meta) && strings.EqualFold(meta[i].FileID, id) {
			m := meta[i]
			out[i].Name, out[i].ContentType, out[i].SizeBytes, out[i].Width, out[i].Height = m.Name, m.ContentType, m.SizeBytes, m.Width, m.Height
		}
	}
	return out
}

// eventAttachments is what MessageSent tells about a message's files.
func eventAttachments(attachments []chat.Attachment) []*eventsv1.Attachment {
	if len(attachments) == 0 {
		return nil
	}
	out := make([]*eventsv1.Attachment, len(attachments))
	for i, a := range attachments {
		out[i] = &eventsv1.Attachment{FileId: a.FileID, Name: a.Name, SizeBytes: a.SizeBytes, ContentType: a.ContentType}
	}
	return out
}

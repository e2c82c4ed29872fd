package chat

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/validate"
)

// Limits of the chat API (chat.proto states them).
const (
	MaxTextLen     = 4000 // characters (Unicode code points) of a message's text, after trimming
	MaxAttachments = 10

	DefaultMessagesPageSize = 50
	DefaultChatsPageSize    = 30
	MaxPageSize             = 100
)

// NormalizeText trims surrounding white space and checks a message text: valid UTF-8, no NUL
// characters, at most MaxTextLen characters, and not empty unless allowEmpty (a message with
// attachments).
func NormalizeText(text string, allowEmpty bool) (string, error) {
	if !utf8.ValidString(text) {
		return "", domainerr.Errorf(domainerr.ErrInvalidArgument, "text: must be valid UTF-8")
	}
	text = strings.TrimSpace(text)
	if strings.ContainsRune(text, 0) {
		return "", domainerr.Errorf(domainerr.ErrInvalidArgument, "text: must not contain NUL characters")
	}
	if n := utf8.RuneCountInString(text); n > MaxTextLen {
		return "", domainerr.Errorf(domainerr.ErrInvalidArgument, "text: at most %d characters, got %d", MaxTextLen, n)
	}
	if text == "" && !allowEmpty {
		return "", domainerr.Errorf(domainerr.ErrInvalidArgument, "text: required (it may be empty only when the message has attachments)")
	}
	return text, nil
}

// NormalizeAttachments checks attachment file ids: at most MaxAttachments UUIDs, no repeats.
// Their order is kept.
func NormalizeAttachments(ids []string) ([]string, error) {
	if len(ids) > MaxAttachments {
		return nil, domainerr.Errorf(domainerr.ErrInvalidArgument, "attachment_file_ids: at most %d files per message, got %d", MaxAttachments, len(ids))
	}
	if len(ids) == 0 {
		return nil, nil
	}
	out := make([]string, len(ids))
	for i, raw := range ids {
		id, err := validate.UUID("attachment_file_ids["+strconv.Itoa(i)+"]", raw)
		if err != nil {
			return nil, err
		}
		for j := range i {
			if out[j] == id {
				return nil, domainerr.Errorf(domainerr.ErrInvalidArgument, "attachment_file_ids[%d]: repeats attachment_file_ids[%d]", i, j)
			}
		}
		out[i] = id
	}
	return out, nil
}

package chat

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/parleyhq/parley/platform/domainerr"
)

// Limits of the chat API (chat.proto states them).
const (
	MaxTextLen     = 4000 // characters (Unicode code points) of a message's text, after trimming
	MaxAttachments = 10

	DefaultMessagesPageSize = 50
	DefaultChatsPageSize    = 30
	MaxPageSize             = 100
)

// MaxAvatarURLLength bounds an avatar thumbnail URL taken from an event.
const MaxAvatarURLLength = 2048

// IsAvatarURL reports whether s can be shown to clients as an avatar thumbnail URL: an absolute
// http(s) URL with a host and no credentials, at most MaxAvatarURLLength bytes. The URL itself
// comes from the media service through ProfileUpdated; this only keeps a broken event from
// putting something else into chat lists.
func IsAvatarURL(s string) bool {
	if len(s) > MaxAvatarURLLength {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// NormalizeID checks that id is a UUID in its usual 36-character form and returns it in lower
// case. field names the request field for the message ("chat_id", "attachment_file_ids[2]").
func NormalizeID(field, id string) (string, error) {
	if !isUUID(id) {
		if id == "" {
			return "", domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: required, a UUID such as 0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01", field)
		}
		return "", domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: must be a UUID such as 0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01, got %q", field, truncate(id, 40))
	}
	return strings.ToLower(id), nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
				return false
			}
		}
	}
	return true
}

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
		id, err := NormalizeID("attachment_file_ids["+strconv.Itoa(i)+"]", raw)
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

// NormalizePageSize turns a requested page size into a limit: 0 means def; 1 to MaxPageSize as
// given; anything else is InvalidArgument.
func NormalizePageSize(n int32, def int) (int, error) {
	switch {
	case n == 0:
		return def, nil
	case n < 0 || n > MaxPageSize:
		return 0, domainerr.Errorf(domainerr.ErrInvalidArgument, "page_size: must be 1 to %d (or 0 for %d), got %d", MaxPageSize, def, n)
	}
	return int(n), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

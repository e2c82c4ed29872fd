package friend

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/parleyhq/parley/platform/domainerr"
)

// NormalizeID checks that id is a UUID and returns it in canonical lower-case form. field names
// the request field for the message ("user_id", "request_id").
func NormalizeID(field, id string) (string, error) {
	if id == "" {
		return "", domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: required; pass a UUID such as 0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01", field)
	}
	if !IsUUID(id) {
		return "", domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: must be a UUID such as 0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01, got %q", field, truncate(id, 40))
	}
	return strings.ToLower(id), nil
}

// IsUUID reports whether s is a UUID in the 8-4-4-4-12 hex form (either case).
func IsUUID(s string) bool {
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
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// MaxAvatarURLLength bounds an avatar thumbnail URL taken from an event.
const MaxAvatarURLLength = 2048

// IsAvatarURL reports whether s can be shown to clients as an avatar thumbnail URL: an absolute
// http(s) URL with a host and no credentials, at most MaxAvatarURLLength bytes. The URL itself
// comes from the media service through ProfileUpdated; this only keeps a broken event from
// putting something else into lists.
func IsAvatarURL(s string) bool {
	if len(s) > MaxAvatarURLLength {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// PageSize checks a requested page size: 0 means DefaultPageSize; otherwise 1 to MaxPageSize.
func PageSize(n int32) (int, error) {
	switch {
	case n == 0:
		return DefaultPageSize, nil
	case n < 0 || n > MaxPageSize:
		return 0, domainerr.Errorf(domainerr.ErrInvalidArgument, "page_size: must be 1 to %d (or 0 for %d), got %d", MaxPageSize, DefaultPageSize, n)
	}
	return int(n), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

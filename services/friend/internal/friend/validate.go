package friend

import "github.com/parleyhq/parley/platform/validate"

// MaxAvatarURLLength bounds an avatar thumbnail URL taken from an event.
const MaxAvatarURLLength = 2048

// IsAvatarURL reports whether s can be shown to clients as an avatar thumbnail URL: an absolute
// http(s) URL with a host and no credentials, at most MaxAvatarURLLength bytes. The URL itself
// comes from the media service through ProfileUpdated; this only keeps a broken event from
// putting something else into lists.
func IsAvatarURL(s string) bool { return validate.IsHTTPURL(s, MaxAvatarURLLength) }

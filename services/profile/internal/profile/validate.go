package profile

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/parleyhq/parley/platform/domainerr"
)

// Nickname and field limits.
const (
	NicknameMinLen = 3
	NicknameMaxLen = 32
	AboutMaxLen    = 500
	QueryMaxLen    = 32
	MaxBatch       = 100

	DefaultPageSize = 20
	MaxPageSize     = 50
)

// ValidateNickname checks the nickname rules: 3 to 32 characters, only ASCII letters, digits,
// '_', '.' and '-', starting with a letter or a digit. The message names the field and the rule
// broken. Nicknames are ASCII on purpose: look-alike letters of other scripts (Latin "a" and
// Cyrillic "а") would let one person pose as another, and case folding stays the same everywhere.
func ValidateNickname(nick string) error {
	if msg := nicknameProblem(nick); msg != "" {
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "nickname: %s", msg)
	}
	return nil
}

func nicknameProblem(nick string) string {
	n := utf8.RuneCountInString(nick)
	if n < NicknameMinLen || n > NicknameMaxLen {
		return fmt.Sprintf("must be %d to %d characters long, got %d", NicknameMinLen, NicknameMaxLen, n)
	}
	for _, r := range nick {
		if !nicknameRune(r) {
			return fmt.Sprintf("may contain only the letters a-z and A-Z, digits, '_', '.' and '-', not %q", r)
		}
	}
	if !alnum(rune(nick[0])) {
		return "must start with a letter or a digit"
	}
	return ""
}

func alnum(r rune) bool {
	return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
}

func nicknameRune(r rune) bool { return alnum(r) || r == '_' || r == '.' || r == '-' }

// ValidateAbout checks the about text: at most 500 characters.
func ValidateAbout(about string) error {
	if !utf8.ValidString(about) {
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "about: must be valid UTF-8 text")
	}
	if n := utf8.RuneCountInString(about); n > AboutMaxLen {
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "about: must be at most %d characters, got %d", AboutMaxLen, n)
	}
	if strings.ContainsRune(about, 0) {
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "about: must not contain NUL characters")
	}
	return nil
}

// NormalizeQuery turns a search query into what is matched: surrounding spaces and one leading
// '@' removed, lower-cased; it must then be 1 to 32 characters.
func NormalizeQuery(raw string) (string, error) {
	q := strings.TrimSpace(raw)
	q = strings.TrimSpace(strings.TrimPrefix(q, "@"))
	n := utf8.RuneCountInString(q)
	switch {
	case n == 0:
		return "", domainerr.Errorf(domainerr.ErrInvalidArgument, "query: must not be empty (spaces and a leading '@' do not count)")
	case n > QueryMaxLen:
		return "", domainerr.Errorf(domainerr.ErrInvalidArgument, "query: must be at most %d characters, got %d", QueryMaxLen, n)
	case !utf8.ValidString(q):
		return "", domainerr.Errorf(domainerr.ErrInvalidArgument, "query: must be valid UTF-8 text")
	case strings.ContainsFunc(q, unicode.IsControl):
		return "", domainerr.Errorf(domainerr.ErrInvalidArgument, "query: must not contain control characters")
	}
	return strings.ToLower(q), nil
}

// DerivedNickname returns a free-to-try nickname derived from requested: its valid part, cut so
// the whole fits 32 characters, then '_' and digits random decimal digits ("alice" ->
// "alice_4821"). The result always satisfies ValidateNickname. rnd(n) returns a number in [0, n).
func DerivedNickname(requested string, digits int, rnd func(n int) int) string {
	base := derivationBase(requested)
	suffix := make([]byte, 0, digits+1)
	suffix = append(suffix, '_')
	for range digits {
		suffix = append(suffix, byte('0'+rnd(10)))
	}
	if max := NicknameMaxLen - len(suffix); len(base) > max {
		base = base[:max]
	}
	return base + string(suffix)
}

// derivationBase keeps the characters of requested that nicknames allow, drops leading '_', '.'
// and '-', and falls back to "user" when fewer than three remain.
func derivationBase(requested string) string {
	var b strings.Builder
	for _, r := range requested {
		if nicknameRune(r) && (b.Len() > 0 || alnum(r)) {
			b.WriteRune(r)
		}
	}
	if b.Len() < NicknameMinLen {
		return "user"
	}
	return b.String()
}

package auth

import (
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/parleyhq/parley/platform/domainerr"

	"github.com/parleyhq/parley/services/auth/internal/commonpasswords"
)

// Limits of the registration fields.
const (
	MaxEmailLen      = 254 // RFC 5321 path limit
	MinPasswordRunes = 8
	MaxPasswordRunes = 128
	MinNicknameRunes = 3
	MaxNicknameRunes = 32
	// MinPersonalPartRunes is the shortest email local part or nickname a new password may not
	// contain: shorter ones ("al", "bob") occur inside too many unrelated words to forbid them.
	MinPersonalPartRunes = 4
	nicknameAllowedMs    = "may contain only the letters a-z and A-Z, digits, '_', '.' and '-'"
)

// NormalizeEmail trims and lower-cases an email address and checks it is a plain address
// (name@domain, no display name, no angle brackets) of at most 254 characters.
func NormalizeEmail(raw string) (string, error) {
	email := strings.ToLower(strings.TrimSpace(raw))
	switch {
	case email == "":
		return "", domainerr.Errorf(domainerr.ErrInvalidArgument, "email: required")
	case len(email) > MaxEmailLen:
		return "", domainerr.Errorf(domainerr.ErrInvalidArgument, "email: must be at most %d characters", MaxEmailLen)
	}
	addr, err := mail.ParseAddress(email)
	// ParseAddress also accepts "Name <a@b>" and comments; a plain address parses to itself.
	if err != nil || addr.Name != "" || addr.Address != email {
		return "", domainerr.Errorf(domainerr.ErrInvalidArgument, "email: must be a plain address like name@example.com")
	}
	return email, nil
}

// ValidatePassword checks a new password: 8 to 128 characters (Unicode code points) of valid UTF-8.
func ValidatePassword(password string) error {
	if password == "" {
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "password: required")
	}
	if !utf8.ValidString(password) {
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "password: must be valid UTF-8 text")
	}
	switch n := utf8.RuneCountInString(password); {
	case n < MinPasswordRunes:
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "password: must be at least %d characters", MinPasswordRunes)
	case n > MaxPasswordRunes:
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "password: must be at most %d characters", MaxPasswordRunes)
	}
	return nil
}

// ValidateNewPassword checks a password being set for an account: ValidatePassword's rules, then
// that it is not one of the most common breached passwords and does not contain the account's
// email local part (or the part before a '+') or nickname, compared without regard to case, when
// those are at least MinPersonalPartRunes long. email is the normalised address ("" when it is
// invalid: then only the nickname is compared). Every place that sets a password must call it.
func ValidateNewPassword(password, email, nickname string) error {
	if err := ValidatePassword(password); err != nil {
		return err
	}
	lower := strings.ToLower(password)
	if commonpasswords.Contains(lower) {
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "password: is one of the most common passwords in public breach lists, so it is guessed first; choose another")
	}
	if local, _, ok := strings.Cut(email, "@"); ok {
		base, _, _ := strings.Cut(local, "+")
		for _, part := range []string{local, base} {
			if containsPersonal(lower, part) {
				return domainerr.Errorf(domainerr.ErrInvalidArgument, "password: must not contain your email address's name (the part before the @)")
			}
		}
	}
	if containsPersonal(lower, nickname) {
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "password: must not contain your nickname")
	}
	return nil
}

// containsPersonal reports whether the lower-cased password contains part (case-insensitive) when
// part is long enough to mean something.
func containsPersonal(lowerPassword, part string) bool {
	return utf8.RuneCountInString(part) >= MinPersonalPartRunes && strings.Contains(lowerPassword, strings.ToLower(part))
}

// ValidateNickname checks a nickname: 3 to 32 characters, each an ASCII letter, a digit, '_', '.'
// or '-', the first a letter or a digit. The profile service applies the same rule (ASCII on
// purpose: look-alike letters of other scripts would let one person pose as another).
func ValidateNickname(nickname string) error {
	if nickname == "" {
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "nickname: required")
	}
	if !utf8.ValidString(nickname) {
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "nickname: %s", nicknameAllowedMs)
	}
	if n := utf8.RuneCountInString(nickname); n < MinNicknameRunes || n > MaxNicknameRunes {
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "nickname: must be %d to %d characters", MinNicknameRunes, MaxNicknameRunes)
	}
	for i, r := range nickname {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if i == 0 && !alnum {
			return domainerr.Errorf(domainerr.ErrInvalidArgument, "nickname: must start with a letter or digit")
		}
		if !alnum && r != '_' && r != '.' && r != '-' {
			return domainerr.Errorf(domainerr.ErrInvalidArgument, "nickname: %s", nicknameAllowedMs)
		}
	}
	return nil
}

package auth

import (
	"net/mail"
	"strings"
	"unicode/utf8"
)

// Limits of the registration fields.
const (
	MaxEmailLen       = 254 // RFC 5321 path limit
	MinPasswordRunes  = 8
	MaxPasswordRunes  = 128
	MinNicknameRunes  = 3
	MaxNicknameRunes  = 32
	nicknameAllowedMs = "may contain only the letters a-z and A-Z, digits, '_', '.' and '-'"
)

// NormalizeEmail trims and lower-cases an email address and checks it is a plain address
// (name@domain, no display name, no angle brackets) of at most 254 characters.
func NormalizeEmail(raw string) (string, error) {
	email := strings.ToLower(strings.TrimSpace(raw))
	switch {
	case email == "":
		return "", Errorf(ErrInvalidArgument, "email: required")
	case len(email) > MaxEmailLen:
		return "", Errorf(ErrInvalidArgument, "email: must be at most %d characters", MaxEmailLen)
	}
	addr, err := mail.ParseAddress(email)
	// ParseAddress also accepts "Name <a@b>" and comments; a plain address parses to itself.
	if err != nil || addr.Name != "" || addr.Address != email {
		return "", Errorf(ErrInvalidArgument, "email: must be a plain address like name@example.com")
	}
	return email, nil
}

// ValidatePassword checks a new password: 8 to 128 characters (Unicode code points) of valid UTF-8.
func ValidatePassword(password string) error {
	if password == "" {
		return Errorf(ErrInvalidArgument, "password: required")
	}
	if !utf8.ValidString(password) {
		return Errorf(ErrInvalidArgument, "password: must be valid UTF-8 text")
	}
	switch n := utf8.RuneCountInString(password); {
	case n < MinPasswordRunes:
		return Errorf(ErrInvalidArgument, "password: must be at least %d characters", MinPasswordRunes)
	case n > MaxPasswordRunes:
		return Errorf(ErrInvalidArgument, "password: must be at most %d characters", MaxPasswordRunes)
	}
	return nil
}

// ValidateNickname checks a nickname: 3 to 32 characters, each an ASCII letter, a digit, '_', '.'
// or '-', the first a letter or a digit. The profile service applies the same rule (ASCII on
// purpose: look-alike letters of other scripts would let one person pose as another).
func ValidateNickname(nickname string) error {
	if nickname == "" {
		return Errorf(ErrInvalidArgument, "nickname: required")
	}
	if !utf8.ValidString(nickname) {
		return Errorf(ErrInvalidArgument, "nickname: %s", nicknameAllowedMs)
	}
	if n := utf8.RuneCountInString(nickname); n < MinNicknameRunes || n > MaxNicknameRunes {
		return Errorf(ErrInvalidArgument, "nickname: must be %d to %d characters", MinNicknameRunes, MaxNicknameRunes)
	}
	for i, r := range nickname {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if i == 0 && !alnum {
			return Errorf(ErrInvalidArgument, "nickname: must start with a letter or digit")
		}
		if !alnum && r != '_' && r != '.' && r != '-' {
			return Errorf(ErrInvalidArgument, "nickname: %s", nicknameAllowedMs)
		}
	}
	return nil
}

// joinInvalid combines the field errors of one request into a single InvalidArgument error whose
// message lists every problem ("email: required; password: must be at least 8 characters").
func joinInvalid(errs ...error) error {
	var msgs []string
	for _, err := range errs {
		if err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return &Error{Kind: ErrInvalidArgument, Msg: strings.Join(msgs, "; ")}
}

package notification

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/parleyhq/parley/platform/domainerr"
)

// Limits of requests.
const (
	DefaultPageSize    = 30
	MaxPageSize        = 100
	MaxMarkIDs         = 100
	TitleMaxLen        = 200
	BodyMaxLen         = 2000
	SubjectIDMaxLen    = 128
	IdempotencyKeyMax  = 128
	NotifyKeyRetention = 30 * 24 * time.Hour
)

// NormalizeID checks that raw is a UUID and returns it in canonical lower-case form; field names
// the request field for the message.
func NormalizeID(field, raw string) (string, error) {
	if raw == "" {
		return "", domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: required", field)
	}
	id, err := uuid.Parse(raw)
	if err != nil || len(raw) != 36 {
		return "", domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: must be a UUID like 0190f5a4-7a1c-7cc3-8d2e-5b1f0e9a6c21, got %q", field, clip(raw, 40))
	}
	return id.String(), nil
}

// NormalizePageSize turns a requested page size into a limit: 0 means DefaultPageSize.
func NormalizePageSize(n int32) (int, error) {
	switch {
	case n == 0:
		return DefaultPageSize, nil
	case n < 1 || n > MaxPageSize:
		return 0, domainerr.Errorf(domainerr.ErrInvalidArgument, "page_size: must be 1 to %d (0 for %d), got %d", MaxPageSize, DefaultPageSize, n)
	}
	return int(n), nil
}

// ValidateKind checks a kind named in a request.
func ValidateKind(field string, k Kind) error {
	switch {
	case k == KindUnspecified:
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: required; NOTIFICATION_KIND_UNSPECIFIED is not a kind", field)
	case !k.Known():
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: unknown kind %d", field, int32(k))
	}
	return nil
}

// validateNotify checks a Notify request and returns it normalised (canonical ids). Every bad field
// is reported, joined by "; ".
func validateNotify(r NotifyRequest) (NotifyRequest, error) {
	var problems []string
	add := func(err error) {
		if err != nil {
			problems = append(problems, err.Error())
		}
	}
	var err error
	r.UserID, err = NormalizeID("user_id", r.UserID)
	add(err)
	add(ValidateKind("kind", r.Kind))
	add(checkText("title", r.Title, 1, TitleMaxLen, true))
	add(checkText("body", r.Body, 0, BodyMaxLen, false))
	add(checkText("subject_id", r.SubjectID, 0, SubjectIDMaxLen, true))
	if r.ActorUserID != "" {
		r.ActorUserID, err = NormalizeID("actor_user_id", r.ActorUserID)
		add(err)
	}
	add(checkText("idempotency_key", r.IdempotencyKey, 1, IdempotencyKeyMax, true))
	if len(problems) > 0 {
		return r, domainerr.Errorf(domainerr.ErrInvalidArgument, "%s", strings.Join(problems, "; "))
	}
	return r, nil
}

// checkText checks a text field: valid UTF-8, min to max characters, and with singleLine no
// control characters at all (titles, keys) or otherwise none but newlines and tabs.
func checkText(field, s string, minLen, maxLen int, singleLine bool) error {
	if !utf8.ValidString(s) {
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: must be valid UTF-8 text", field)
	}
	n := utf8.RuneCountInString(s)
	switch {
	case n == 0 && minLen > 0:
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: required", field)
	case n < minLen || n > maxLen:
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: must be %d to %d characters long, got %d", field, minLen, maxLen, n)
	}
	for _, r := range s {
		if unicode.IsControl(r) && (singleLine || (r != '\n' && r != '\t')) {
			if singleLine {
				return domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: must be a single line without control characters", field)
			}
			return domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: must not contain control characters other than newlines and tabs", field)
		}
	}
	return nil
}

// clip shortens s to at most n runes, marking the cut with "…".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

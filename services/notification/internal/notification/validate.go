package notification

import (
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/validate"
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
	var problems validate.Problems
	var err error
	r.UserID, err = validate.UUID("user_id", r.UserID)
	problems.Add(err)
	problems.Add(ValidateKind("kind", r.Kind))
	problems.Add(checkText("title", r.Title, 1, TitleMaxLen, true))
	problems.Add(checkText("body", r.Body, 0, BodyMaxLen, false))
	problems.Add(checkText("subject_id", r.SubjectID, 0, SubjectIDMaxLen, true))
	if r.ActorUserID != "" {
		r.ActorUserID, err = validate.UUID("actor_user_id", r.ActorUserID)
		problems.Add(err)
	}
	problems.Add(checkText("idempotency_key", r.IdempotencyKey, 1, IdempotencyKeyMax, true))
	return r, problems.Err()
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

// Package validate checks the fields every API shares the shape of — ids, lists of ids, page
// sizes, links — and answers with domain errors (domainerr.ErrInvalidArgument) whose message names
// the field and says what it wants, in the same words in every service:
//
//	chat_id: required, a UUID such as 0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01
//	user_ids[3]: must be a UUID such as 0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01, got "bob"
//	file_ids: at most 100 ids per call, got 101
//	page_size: must be 1 to 100 (0 for 50), got 101
//
// A request with several fields reports every bad one at once: collect the checks' errors in
// Problems (or pass them to Join) and return its Err.
//
// Use it in a service's domain package for these fields; a rule with a meaning of its own in the
// domain (a nickname, a message text, an upload) stays in the domain's validate.go. The limits
// (how many ids, the default and largest page) are the domain's and passed in.
package validate

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/parleyhq/parley/platform/domainerr"
)

// uuidExample is the UUID the messages show.
const uuidExample = "0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01"

// quoteMax is how many bytes of a refused value a message quotes.
const quoteMax = 40

// IsUUID reports whether s is a UUID in its 36-character 8-4-4-4-12 hex form, in either case.
// Use it where a bad value is not a request field (a token's payload, a token's subject); for a
// field, UUID says what is wrong.
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
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
				return false
			}
		}
	}
	return true
}

// UUID checks the request field named field (for the message: "chat_id", "user_ids[2]") that
// must hold a UUID in its 36-character form and returns it lower-cased, the form Postgres prints.
// An empty value is "required"; a malformed one is quoted (at most 40 bytes) in the message.
func UUID(field, s string) (string, error) {
	if !IsUUID(s) {
		if s == "" {
			return "", domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: required, a UUID such as %s", field, uuidExample)
		}
		return "", domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: must be a UUID such as %s, got %q", field, uuidExample, clip(s, quoteMax))
	}
	return strings.ToLower(s), nil
}

// UUIDs checks a repeated id field (field names it: "file_ids"): at most maxLen ids, each a UUID
// (named field[i] in the message). It returns them lower-cased in their order, each once: a
// batch read or a mark-as-read is the same with an id named twice. A field where a repeat is a
// mistake checks each id with UUID instead.
func UUIDs(field string, ids []string, maxLen int) ([]string, error) {
	if len(ids) > maxLen {
		return nil, domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: at most %d ids per call, got %d", field, maxLen, len(ids))
	}
	out := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for i, raw := range ids {
		id, err := UUID(field+"["+strconv.Itoa(i)+"]", raw)
		if err != nil {
			return nil, err
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// PageSize turns a list request's page_size into a limit: 0 is def, 1 to maxSize as given,
// anything else an error naming page_size.
func PageSize(n int32, def, maxSize int) (int, error) {
	switch {
	case n == 0:
		return def, nil
	case n < 1 || int(n) > maxSize:
		return 0, domainerr.Errorf(domainerr.ErrInvalidArgument, "page_size: must be 1 to %d (0 for %d), got %d", maxSize, def, n)
	}
	return int(n), nil
}

// IsHTTPURL reports whether s may be handed to clients as a link: an absolute http or https URL
// with a host and no credentials, at most maxLen bytes. Use it for a URL another service sent (in
// an event), so that a broken message cannot put something else in front of users.
func IsHTTPURL(s string, maxLen int) bool {
	if len(s) > maxLen {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// MaxLinkLength bounds a link FileLink keeps.
const MaxLinkLength = 2048

// FileLink reads what an event says of a file another service keeps (an id, empty for none) and
// the link it gives for showing it (a thumbnail), for a consumer that keeps both to show clients.
// It returns what may be kept and, when it left something out, a sentence for the consumer's
// warning log (empty when it kept everything); the rest of the event is still to be applied:
//   - a file id that is not a UUID: no file, and so no link;
//   - no file: no link, whatever the event says;
//   - a link that IsHTTPURL refuses (at most MaxLinkLength bytes): the file without the link.
func FileLink(fileID, link string) (keptID, keptLink, dropped string) {
	if fileID == "" {
		return "", "", ""
	}
	id, err := UUID("file id", fileID)
	if err != nil {
		return "", "", "ignored the file (and its link): " + err.Error()
	}
	if link != "" && !IsHTTPURL(link, MaxLinkLength) {
		return id, "", "ignored the link, which is not an absolute http(s) URL with a host and no credentials of at most " +
			strconv.Itoa(MaxLinkLength) + " bytes"
	}
	return id, link, ""
}

// clip returns s cut to at most n bytes at a character boundary, with "…" marking a cut: what a
// message quotes of a refused value.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Problems collects what is wrong with one request's fields, so that the caller hears of every
// bad field at once rather than one per attempt. The zero value is ready to use.
type Problems struct {
	msgs []string
}

// Add records err's message (a field check's InvalidArgument error); nil records nothing, so a
// check's result goes in as it is.
func (p *Problems) Add(err error) {
	if err != nil {
		p.msgs = append(p.msgs, err.Error())
	}
}

// Addf records a problem; the message names the field first ("file_name: required").
func (p *Problems) Addf(format string, args ...any) {
	p.msgs = append(p.msgs, fmt.Sprintf(format, args...))
}

// Err returns nil when nothing was recorded, else one InvalidArgument error whose message lists
// every problem in the order recorded, "; " between them ("email: required; password: must be
// at least 8 characters").
func (p *Problems) Err() error {
	if len(p.msgs) == 0 {
		return nil
	}
	return domainerr.Errorf(domainerr.ErrInvalidArgument, "%s", strings.Join(p.msgs, "; "))
}

// Join is Problems for checks made up front: the errors among errs (nil ones skipped) as one
// InvalidArgument error, or nil.
func Join(errs ...error) error {
	var p Problems
	for _, err := range errs {
		p.Add(err)
	}
	return p.Err()
}

// Package pagetoken encodes and checks the page tokens of list methods: base64url-encoded JSON of
// a payload struct the service defines, with a format version. Tokens are opaque to clients, not
// secret and not signed; Decode refuses anything that is not a token of the current format, and
// the service then checks that the token belongs to the listing asked for (same list, query or
// filter) and that its position is plausible, answering ErrMalformed or its own clear message.
//
// Use it for every page_token/next_page_token pair:
//
//	type cursor struct {
//		pagetoken.Version
//		K string `json:"k"` // which list
//		U string `json:"u"` // last id of the page
//	}
//	next := pagetoken.Encode(&cursor{K: "friends", U: last.ID})
//	var c cursor
//	found, err := pagetoken.Decode(req.PageToken, 512, &c) // found is false for "" (the first page)
//
// The errors are domain errors (domainerr.ErrInvalidArgument) naming the field page_token.
package pagetoken

import (
	"encoding/base64"
	"encoding/json"

	"github.com/parleyhq/parley/platform/domainerr"
)

// current is the format version written into every token. Raise it when payloads change
// incompatibly: older tokens are then refused with ErrVersion instead of being misread.
const current = 1

// Version is embedded in every payload struct; it is the token's "v" field.
type Version struct {
	V int `json:"v"`
}

func (v *Version) setVersion()  { v.V = current }
func (v *Version) version() int { return v.V }

// Payload is a pointer to a struct that embeds Version.
type Payload interface {
	setVersion()
	version() int
}

var (
	// ErrMalformed: the token is not one this service issued (cut, edited, too long) or carries
	// an impossible position. Services return it for their own plausibility checks too.
	ErrMalformed = domainerr.Errorf(domainerr.ErrInvalidArgument, "page_token: malformed; pass the next_page_token of the previous page unchanged")
	// ErrVersion: the token was issued in a format this build no longer reads.
	ErrVersion = domainerr.Errorf(domainerr.ErrInvalidArgument, "page_token: issued by an incompatible version; start again from the first page")
)

// Encode returns the token carrying p (with the current version set).
func Encode(p Payload) string {
	p.setVersion()
	b, err := json.Marshal(p)
	if err != nil {
		// Payloads are plain structs of strings and numbers; a failure is a programming error.
		panic("pagetoken: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode fills p from token. "" is the first page: found is false and p untouched. A token
// longer than maxLen, not base64url JSON, or of another version is refused (ErrMalformed,
// ErrVersion); checking what p says is the caller's part.
func Decode(token string, maxLen int, p Payload) (found bool, err error) {
	if token == "" {
		return false, nil
	}
	if len(token) > maxLen {
		return false, ErrMalformed
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return false, ErrMalformed
	}
	if err := json.Unmarshal(raw, p); err != nil {
		return false, ErrMalformed
	}
	if p.version() != current {
		return false, ErrVersion
	}
	return true, nil
}

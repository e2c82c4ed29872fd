package notification

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Cursor is a position in a user's notification list (newest first): the creation time and id of
// the last notification of a page. Page tokens carry it, with the unread_only flag of the listing
// it belongs to, as base64url-encoded JSON; they are opaque to clients and checked on the way in.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

type cursorJSON struct {
	V int    `json:"v"`
	U bool   `json:"u"`
	T int64  `json:"t"` // Unix microseconds: Postgres' precision
	I string `json:"i"`
}

const (
	cursorVersion  = 1
	maxTokenLength = 256
)

// EncodeCursor returns the page token for c within a listing with unreadOnly.
func EncodeCursor(unreadOnly bool, c Cursor) string {
	b, _ := json.Marshal(cursorJSON{V: cursorVersion, U: unreadOnly, T: c.CreatedAt.UnixMicro(), I: c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor checks a page token for a listing with unreadOnly: "" means the first page (nil).
func DecodeCursor(unreadOnly bool, token string) (*Cursor, error) {
	if token == "" {
		return nil, nil
	}
	malformed := Errorf(ErrInvalidArgument, "page_token: malformed; pass the next_page_token of the previous page unchanged")
	if len(token) > maxTokenLength {
		return nil, malformed
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, malformed
	}
	var c cursorJSON
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, malformed
	}
	if c.V != cursorVersion {
		return nil, Errorf(ErrInvalidArgument, "page_token: issued by an incompatible version; start again from the first page")
	}
	if c.U != unreadOnly {
		return nil, Errorf(ErrInvalidArgument, "page_token: belongs to a listing with unread_only=%t; pass the same unread_only or start again from the first page", c.U)
	}
	id, err := uuid.Parse(c.I)
	if err != nil || c.T <= 0 {
		return nil, malformed
	}
	return &Cursor{CreatedAt: time.UnixMicro(c.T).UTC(), ID: id.String()}, nil
}

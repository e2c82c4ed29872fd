package notification

import (
	"time"

	"github.com/google/uuid"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/pagetoken"
)

// Cursor is a position in a user's notification list (newest first): the creation time and id of
// the last notification of a page. Page tokens (platform/pagetoken) carry it with the unread_only
// flag of the listing it belongs to.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

type cursorJSON struct {
	pagetoken.Version
	U bool   `json:"u"`
	T int64  `json:"t"` // Unix microseconds: Postgres' precision
	I string `json:"i"`
}

const maxTokenLength = 256

// EncodeCursor returns the page token for c within a listing with unreadOnly.
func EncodeCursor(unreadOnly bool, c Cursor) string {
	return pagetoken.Encode(&cursorJSON{U: unreadOnly, T: c.CreatedAt.UnixMicro(), I: c.ID})
}

// DecodeCursor checks a page token for a listing with unreadOnly: "" means the first page (nil).
func DecodeCursor(unreadOnly bool, token string) (*Cursor, error) {
	var c cursorJSON
	if found, err := pagetoken.Decode(token, maxTokenLength, &c); !found || err != nil {
		return nil, err
	}
	if c.U != unreadOnly {
		return nil, domainerr.Errorf(domainerr.ErrInvalidArgument, "page_token: belongs to a listing with unread_only=%t; pass the same unread_only or start again from the first page", c.U)
	}
	id, err := uuid.Parse(c.I)
	if err != nil || c.T <= 0 {
		return nil, pagetoken.ErrMalformed
	}
	return &Cursor{CreatedAt: time.UnixMicro(c.T).UTC(), ID: id.String()}, nil
}

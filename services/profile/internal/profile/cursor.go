package profile

import (
	"math"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/pagetoken"
	"github.com/parleyhq/parley/platform/validate"
)

// Cursor is a position in a search's ranking: the ranking tuple of the last result of a page
// (see SearchHit). Page tokens (platform/pagetoken) carry it with the query it belongs to.
type Cursor struct {
	Match      MatchKind
	Length     int     // prefix tier
	Similarity float32 // fuzzy tier
	SortKey    string
	UserID     string
}

type cursorJSON struct {
	pagetoken.Version
	Q string    `json:"q"`
	M MatchKind `json:"m"`
	L int       `json:"l,omitempty"`
	S float32   `json:"s,omitempty"`
	K string    `json:"k"`
	U string    `json:"u"`
}

const maxTokenLength = 512

// EncodeCursor returns the page token for c within a search for query (normalised).
func EncodeCursor(query string, c Cursor) string {
	return pagetoken.Encode(&cursorJSON{Q: query, M: c.Match, L: c.Length, S: c.Similarity, K: c.SortKey, U: c.UserID})
}

// DecodeCursor validates a page token for a search for query (normalised): "" means the first
// page (nil cursor).
func DecodeCursor(query, token string) (*Cursor, error) {
	var c cursorJSON
	if found, err := pagetoken.Decode(token, maxTokenLength, &c); !found || err != nil {
		return nil, err
	}
	if c.Q != query {
		return nil, domainerr.Errorf(domainerr.ErrInvalidArgument, "page_token: belongs to a search for a different query; start again from the first page")
	}
	if c.M < MatchExact || c.M > MatchFuzzy || c.L < 0 || c.L > NicknameMaxLen ||
		math.IsNaN(float64(c.S)) || c.S < 0 || c.S > 1 || c.K == "" || len(c.K) > 4*NicknameMaxLen || !validate.IsUUID(c.U) {
		return nil, pagetoken.ErrMalformed
	}
	return &Cursor{Match: c.M, Length: c.L, Similarity: c.S, SortKey: c.K, UserID: c.U}, nil
}

package profile

import (
	"encoding/base64"
	"encoding/json"
	"math"
)

// Cursor is a position in a search's ranking: the ranking tuple of the last result of a page
// (see SearchHit). Page tokens carry it, with the query it belongs to, as base64url-encoded JSON.
// They are opaque to clients and validated on the way back in.
type Cursor struct {
	Match      MatchKind
	Length     int     // prefix tier
	Similarity float32 // fuzzy tier
	SortKey    string
	UserID     string
}

type cursorJSON struct {
	V int       `json:"v"`
	Q string    `json:"q"`
	M MatchKind `json:"m"`
	L int       `json:"l,omitempty"`
	S float32   `json:"s,omitempty"`
	K string    `json:"k"`
	U string    `json:"u"`
}

const (
	cursorVersion  = 1
	maxTokenLength = 512
)

// EncodeCursor returns the page token for c within a search for query (normalised).
func EncodeCursor(query string, c Cursor) string {
	b, _ := json.Marshal(cursorJSON{V: cursorVersion, Q: query, M: c.Match, L: c.Length, S: c.Similarity, K: c.SortKey, U: c.UserID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor validates a page token for a search for query (normalised): "" means the first
// page (nil cursor).
func DecodeCursor(query, token string) (*Cursor, error) {
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
	if c.Q != query {
		return nil, Errorf(ErrInvalidArgument, "page_token: belongs to a search for a different query; start again from the first page")
	}
	if c.M < MatchExact || c.M > MatchFuzzy || c.L < 0 || c.L > NicknameMaxLen ||
		math.IsNaN(float64(c.S)) || c.S < 0 || c.S > 1 || c.K == "" || len(c.K) > 4*NicknameMaxLen || !isUUID(c.U) {
		return nil, malformed
	}
	return &Cursor{Match: c.M, Length: c.L, Similarity: c.S, SortKey: c.K, UserID: c.U}, nil
}

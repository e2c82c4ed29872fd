// Package profile is the profile service's domain: public profiles (nickname, about, avatar),
// the nickname rules, search parameters and the use cases behind the RPCs.
package profile

import "time"

// NicknameStatus says how the current nickname came to be.
type NicknameStatus int

const (
	// NicknameChosen: the person chose the nickname (at registration or later).
	NicknameChosen NicknameStatus = 1
	// NicknameRequestedTaken: the nickname asked for at registration could not be given (taken,
	// or not valid under this service's rules), so a free one was derived from it; the person is
	// shown RequestedNickname and invited to pick another.
	NicknameRequestedTaken NicknameStatus = 2
)

// Avatar is a profile picture held by the media service.
type Avatar struct {
	FileID          string
	URL             string
	Thumbnail64URL  string
	Thumbnail256URL string
}

// Profile is one person's profile. NicknameStatus and RequestedNickname are private to its owner;
// Public() drops them.
type Profile struct {
	UserID            string
	Nickname          string
	About             string
	Avatar            *Avatar
	NicknameStatus    NicknameStatus
	RequestedNickname string
	// Version increases by one with every change; ProfileUpdated events carry it.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Public returns the profile as other people see it: without the nickname status and the
// nickname asked for at registration.
func (p Profile) Public() Profile {
	p.NicknameStatus = 0
	p.RequestedNickname = ""
	return p
}

// MatchKind says why a search result matched; lower kinds rank first.
type MatchKind int

const (
	// MatchExact: the nickname equals the query, ignoring case.
	MatchExact MatchKind = 1
	// MatchPrefix: the nickname starts with the query.
	MatchPrefix MatchKind = 2
	// MatchFuzzy: the nickname is similar to the query (trigram similarity).
	MatchFuzzy MatchKind = 3
)

// SearchHit is one search result with the values it is ranked by. Results are ordered by Match
// (exact, prefix, fuzzy), then within the prefix tier by Length (shortest first), within the fuzzy
// tier by Similarity (highest first), then by SortKey and Profile.UserID.
type SearchHit struct {
	Profile Profile
	Match   MatchKind
	// Length is the nickname's length in characters (prefix tier).
	Length int
	// Similarity is the nickname's trigram similarity to the query, 0..1 (fuzzy tier).
	Similarity float32
	// SortKey is the nickname lower-cased (as the database compares it).
	SortKey string
}

// SearchParams is one page request to the store.
type SearchParams struct {
	// Query is normalised: trimmed, without a leading '@', lower-cased.
	Query string
	// Limit is the most hits to return.
	Limit int
	// After, when set, asks for the hits ranked after this position.
	After *Cursor
}

// SearchPage is one page of results.
type SearchPage struct {
	Hits []SearchHit
	// NextPageToken is empty on the last page.
	NextPageToken string
}

// Registration is what a UserRegistered event says about a new person.
type Registration struct {
	UserID            string
	RequestedNickname string
}

// Changes is an UpdateProfile request; nil fields are kept.
type Changes struct {
	Nickname *string
	About    *string
}

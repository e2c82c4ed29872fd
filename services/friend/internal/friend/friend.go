// Package friend holds the friend service's domain: friend requests, friendships and blocks
// between two people, the rules that connect them (see Service), and the interfaces it needs.
package friend

import "time"

// UserSummary is what lists show of another person: the service's copy of their nickname and
// avatar, refreshed from ProfileUpdated events.
type UserSummary struct {
	UserID       string
	Nickname     string
	AvatarFileID string // "" when there is none
	// AvatarThumbnailURL is the avatar's 64x64 thumbnail as the media service serves it, carried
	// by ProfileUpdated; "" when there is no avatar (or no event has carried one yet).
	AvatarThumbnailURL string
}

// ProfileChange is a ProfileUpdated event as the friend service keeps it.
type ProfileChange struct {
	UserID             string
	Nickname           string
	AvatarFileID       string // "" when there is none
	AvatarThumbnailURL string // "" when there is none
	Version            int64
}

// Friend is one friendship seen from one side: the other person and since when.
type Friend struct {
	User  UserSummary
	Since time.Time
}

// RequestStatus is where a friend request is in its life.
type RequestStatus string

// Request statuses. Only pending requests are listed; the others are kept so that a repeated
// accept, decline or cancel can answer as the API promises.
const (
	StatusPending   RequestStatus = "pending"
	StatusAccepted  RequestStatus = "accepted"
	StatusDeclined  RequestStatus = "declined"
	StatusCancelled RequestStatus = "cancelled"
	// StatusDropped: ended by a block (or, for a hidden request, an unblock), not by an answer.
	StatusDropped RequestStatus = "dropped"
)

// Request is a friend request.
type Request struct {
	ID     string
	From   string
	To     string
	Status RequestStatus
	// Hidden marks a request sent by someone the recipient had blocked: it looks pending to its
	// sender, the recipient never sees it, and it raises no event.
	Hidden    bool
	CreatedAt time.Time
}

// Direction says which side of a request the caller is on.
type Direction int

// Directions.
const (
	Incoming Direction = iota + 1
	Outgoing
)

func (d Direction) String() string {
	switch d {
	case Incoming:
		return "incoming"
	case Outgoing:
		return "outgoing"
	}
	return "unspecified"
}

// RequestView is a request as the caller sees it: with the other person and the direction.
type RequestView struct {
	Request
	Other     UserSummary
	Direction Direction
}

// Blocked is one person the caller has blocked.
type Blocked struct {
	User      UserSummary
	BlockedAt time.Time
}

// Pair is two different people in canonical order (Lo < Hi), the unit every relationship change
// locks.
type Pair struct{ Lo, Hi string }

// NewPair orders a and b (canonical lower-case UUIDs).
func NewPair(a, b string) Pair {
	if a > b {
		a, b = b, a
	}
	return Pair{Lo: a, Hi: b}
}

// ID is the pair id the events are keyed by: the two user ids sorted and joined by ':'.
func (p Pair) ID() string { return p.Lo + ":" + p.Hi }

// Other returns the member of p that is not id.
func (p Pair) Other(id string) string {
	if id == p.Lo {
		return p.Hi
	}
	return p.Lo
}

// PairState is everything about a pair that the rules look at, read under the pair's lock.
type PairState struct {
	// FriendsSince is set while the two are friends.
	FriendsSince *time.Time
	// Pending is the pair's pending request, in either direction (there is at most one).
	Pending *Request
	// LoBlocksHi and HiBlocksLo say who has blocked whom.
	LoBlocksHi, HiBlocksLo bool
}

// Blocks reports whether blocker has blocked blocked (both members of the pair p).
func (s PairState) Blocks(p Pair, blocker string) bool {
	if blocker == p.Lo {
		return s.LoBlocksHi
	}
	return s.HiBlocksLo
}

// Relationship is what CheckFriendship answers.
type Relationship struct {
	AreFriends bool
	// Blocked is true when either has blocked the other.
	Blocked bool
}

// Page sizes of the list methods.
const (
	DefaultPageSize = 50
	MaxPageSize     = 100
)

// FriendsPage is one page of ListFriends.
type FriendsPage struct {
	Friends       []Friend
	NextPageToken string
}

// RequestsPage is one page of ListFriendRequests.
type RequestsPage struct {
	Requests      []RequestView
	NextPageToken string
}

// BlockedPage is one page of ListBlockedUsers.
type BlockedPage struct {
	Blocked       []Blocked
	NextPageToken string
}

// FriendsCursor is the position after the last friend of a page: the nickname ordering key
// (lower-cased) and the user id breaking ties.
type FriendsCursor struct {
	NicknameKey string
	UserID      string
}

// TimeCursor is the position after the last entry of a newest-first page: its time and id.
type TimeCursor struct {
	Time time.Time
	ID   string
}

package friend

import (
	"time"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/pagetoken"
	"github.com/parleyhq/parley/platform/validate"
)

// Page tokens (platform/pagetoken) name the list they belong to and the position after the last
// entry of the page, so a token of one list (or one direction of requests) is refused by another.
type cursorJSON struct {
	pagetoken.Version
	K string `json:"k"`           // the list: "friends", "blocked", "requests:incoming", "requests:outgoing"
	N string `json:"n,omitempty"` // friends: lower-cased nickname
	T int64  `json:"t,omitempty"` // blocked, requests: Unix microseconds
	U string `json:"u"`           // user id (friends, blocked) or request id (requests)
}

const (
	maxTokenLength = 512

	listFriends = "friends"
	listBlocked = "blocked"
)

func requestsList(d Direction) string { return "requests:" + d.String() }

// decodeToken validates token as a page token of list; "" is the first page (nil).
func decodeToken(list, token string) (*cursorJSON, error) {
	var c cursorJSON
	if found, err := pagetoken.Decode(token, maxTokenLength, &c); !found || err != nil {
		return nil, err
	}
	if c.K != list {
		return nil, domainerr.Errorf(domainerr.ErrInvalidArgument, "page_token: belongs to another list (%s, not %s); start again from the first page", c.K, list)
	}
	if !validate.IsUUID(c.U) {
		return nil, pagetoken.ErrMalformed
	}
	return &c, nil
}

// EncodeFriendsToken returns the page token continuing a friends list after c.
func EncodeFriendsToken(c FriendsCursor) string {
	return pagetoken.Encode(&cursorJSON{K: listFriends, N: c.NicknameKey, U: c.UserID})
}

// DecodeFriendsToken validates a ListFriends page token; "" means the first page (nil).
func DecodeFriendsToken(token string) (*FriendsCursor, error) {
	c, err := decodeToken(listFriends, token)
	if c == nil || err != nil {
		return nil, err
	}
	return &FriendsCursor{NicknameKey: c.N, UserID: c.U}, nil
}

// EncodeBlockedToken returns the page token continuing a blocked list after c.
func EncodeBlockedToken(c TimeCursor) string {
	return pagetoken.Encode(&cursorJSON{K: listBlocked, T: c.Time.UnixMicro(), U: c.ID})
}

// DecodeBlockedToken validates a ListBlockedUsers page token; "" means the first page (nil).
func DecodeBlockedToken(token string) (*TimeCursor, error) {
	c, err := decodeToken(listBlocked, token)
	if c == nil || err != nil {
		return nil, err
	}
	return &TimeCursor{Time: time.UnixMicro(c.T).UTC(), ID: c.U}, nil
}

// EncodeRequestsToken returns the page token continuing a requests list of direction d after c.
func EncodeRequestsToken(d Direction, c TimeCursor) string {
	return pagetoken.Encode(&cursorJSON{K: requestsList(d), T: c.Time.UnixMicro(), U: c.ID})
}

// DecodeRequestsToken validates a ListFriendRequests page token for direction d; "" means the
// first page (nil).
func DecodeRequestsToken(d Direction, token string) (*TimeCursor, error) {
	c, err := decodeToken(requestsList(d), token)
	if c == nil || err != nil {
		return nil, err
	}
	return &TimeCursor{Time: time.UnixMicro(c.T).UTC(), ID: c.U}, nil
}

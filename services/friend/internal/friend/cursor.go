package friend

import (
	"encoding/base64"
	"encoding/json"
	"time"
)

// Page tokens are base64url-encoded JSON naming the list they belong to and the position after
// the last entry of the page. They are opaque to clients and validated on the way back in, so a
// token of one list (or one direction of requests) is refused by another.

type cursorJSON struct {
	V int    `json:"v"`
	K string `json:"k"`           // the list: "friends", "blocked", "requests:incoming", "requests:outgoing"
	N string `json:"n,omitempty"` // friends: lower-cased nickname
	T int64  `json:"t,omitempty"` // blocked, requests: Unix microseconds
	U string `json:"u"`           // user id (friends, blocked) or request id (requests)
}

const (
	cursorVersion  = 1
	maxTokenLength = 512

	listFriends = "friends"
	listBlocked = "blocked"
)

func requestsList(d Direction) string { return "requests:" + d.String() }

func encodeToken(c cursorJSON) string {
	c.V = cursorVersion
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken validates token as a page token of list; "" is the first page (nil).
func decodeToken(list, token string) (*cursorJSON, error) {
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
	if c.K != list {
		return nil, Errorf(ErrInvalidArgument, "page_token: belongs to another list (%s, not %s); start again from the first page", c.K, list)
	}
	if !IsUUID(c.U) {
		return nil, malformed
	}
	return &c, nil
}

// EncodeFriendsToken returns the page token continuing a friends list after c.
func EncodeFriendsToken(c FriendsCursor) string {
	return encodeToken(cursorJSON{K: listFriends, N: c.NicknameKey, U: c.UserID})
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
	return encodeToken(cursorJSON{K: listBlocked, T: c.Time.UnixMicro(), U: c.ID})
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
	return encodeToken(cursorJSON{K: requestsList(d), T: c.Time.UnixMicro(), U: c.ID})
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

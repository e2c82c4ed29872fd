package chat

import (
	"time"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/pagetoken"
	"github.com/parleyhq/parley/platform/validate"
)

// Direction is which way ListMessages walks through a chat.
type Direction int

// Directions.
const (
	Older Direction = 1 // newest first, towards seq 1
	Newer Direction = 2 // oldest first, towards the newest
)

// Page tokens (platform/pagetoken) name the method they came from (k), so a ListChats token is
// refused by ListMessages.
type tokenJSON struct {
	pagetoken.Version
	K string `json:"k"`           // "m": ListMessages, "c": ListChats
	C string `json:"c,omitempty"` // chat id
	D int    `json:"d,omitempty"` // direction (messages)
	S int64  `json:"s,omitempty"` // exclusive seq bound (messages)
	T int64  `json:"t,omitempty"` // last activity, Unix microseconds (chats)
}

const maxTokenLength = 256

// decodeToken checks a non-empty token of method kind.
func decodeToken(token, kind string) (tokenJSON, error) {
	var t tokenJSON
	if token == "" {
		return tokenJSON{}, pagetoken.ErrMalformed
	}
	if _, err := pagetoken.Decode(token, maxTokenLength, &t); err != nil {
		return tokenJSON{}, err
	}
	if t.K != kind {
		return tokenJSON{}, domainerr.Errorf(domainerr.ErrInvalidArgument, "page_token: not a token of this method; pass the next_page_token it returned")
	}
	if !validate.IsUUID(t.C) {
		return tokenJSON{}, pagetoken.ErrMalformed
	}
	return t, nil
}

// MessagesToken is the page token continuing ListMessages in chatID in direction d after seq
// (exclusive).
func MessagesToken(chatID string, d Direction, seq int64) string {
	return pagetoken.Encode(&tokenJSON{K: "m", C: chatID, D: int(d), S: seq})
}

// DecodeMessagesToken returns the exclusive seq bound a ListMessages token carries, after checking
// it belongs to the same chat and direction.
func DecodeMessagesToken(token, chatID string, d Direction) (int64, error) {
	t, err := decodeToken(token, "m")
	if err != nil {
		return 0, err
	}
	if t.C != chatID {
		return 0, domainerr.Errorf(domainerr.ErrInvalidArgument, "page_token: belongs to another chat; chat_id must be the same as in the first call")
	}
	if Direction(t.D) != d {
		return 0, domainerr.Errorf(domainerr.ErrInvalidArgument, "page_token: belongs to the other direction; direction must be the same as in the first call")
	}
	if t.S < 0 || (d == Older && t.S < 1) {
		return 0, pagetoken.ErrMalformed
	}
	return t.S, nil
}

// ChatCursor is a position in a caller's chat list: the last chat of a page.
type ChatCursor struct {
	LastActivityAt time.Time
	ChatID         string
}

// ChatsToken is the page token continuing ListChats after c.
func ChatsToken(c ChatCursor) string {
	return pagetoken.Encode(&tokenJSON{K: "c", C: c.ChatID, T: c.LastActivityAt.UnixMicro()})
}

// DecodeChatsToken returns the cursor a ListChats token carries; "" means the first page (nil).
func DecodeChatsToken(token string) (*ChatCursor, error) {
	if token == "" {
		return nil, nil
	}
	t, err := decodeToken(token, "c")
	if err != nil {
		return nil, err
	}
	return &ChatCursor{LastActivityAt: time.UnixMicro(t.T).UTC(), ChatID: t.C}, nil
}

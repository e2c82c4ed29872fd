package realtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"

	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
)

// Subprotocol is the WebSocket subprotocol (and protocol version) the gateway speaks. A client
// offering subprotocols must offer this one; the gateway answers with it.
const Subprotocol = "parley.v1"

// bearerPrefix marks the access token among the offered subprotocols: "bearer.<token>".
const bearerPrefix = "bearer."

// Close codes (docs/realtime.md lists them with what a client should do).
const (
	// CloseGoingAway: the gateway is shutting down; reconnect (to another one) and sync.
	CloseGoingAway = websocket.StatusGoingAway
	// CloseTryAgainLater: a dependency (Redis, the auth keys) is unavailable; reconnect with backoff.
	CloseTryAgainLater = websocket.StatusTryAgainLater
	// CloseBadRequest: a protocol violation that the connection cannot survive.
	CloseBadRequest websocket.StatusCode = 4000
	// CloseUnauthenticated: no token, an invalid or expired one, no auth frame in time, or a new
	// token for another user.
	CloseUnauthenticated websocket.StatusCode = 4001
	// CloseTokenExpired: the access token expired and no fresh one was sent in an auth frame.
	CloseTokenExpired websocket.StatusCode = 4002
	// CloseSessionRevoked: the session was logged out (or its refresh token reused); sign in again.
	CloseSessionRevoked websocket.StatusCode = 4003
	// CloseTooManyConnections: the user already has the most connections allowed.
	CloseTooManyConnections websocket.StatusCode = 4008
	// CloseSlowConsumer: the client did not read fast enough and its send buffer filled up.
	CloseSlowConsumer websocket.StatusCode = 4009
)

// Frame types. Client → gateway: auth, ping, typing, presence_query, sync. Gateway → client: the
// rest. Types starting with "_" are control frames between gateways and never reach a client.
const (
	TypeAuth           = "auth"
	TypeAuthOK         = "auth_ok"
	TypeReady          = "ready"
	TypePing           = "ping"
	TypePong           = "pong"
	TypeError          = "error"
	TypeMessage        = "message"
	TypeMessageEdited  = "message_edited"
	TypeMessageDeleted = "message_deleted"
	TypeRead           = "read"
	TypeFriendRequest  = "friend_request"
	TypeFriendAccepted = "friend_accepted"
	TypeFriendDeclined = "friend_declined"
	TypeFriendRemoved  = "friend_removed"
	TypeNotification   = "notification"
	TypeTyping         = "typing"
	TypePresence       = "presence"
	TypePresenceQuery  = "presence_query"
	TypePresenceResult = "presence_result"
	TypeSync           = "sync"
	TypeSyncDone       = "sync_done"
	TypeSyncRequired   = "sync_required"
	TypeSyncComplete   = "sync_complete"
	TypeResync         = "resync"

	typeRevoke   = "_revoke"   // close the sockets of one session
	typeUnfriend = "_unfriend" // forget a friendship (the other side of a removal or block)
)

// Error codes carried by error frames: Connect's code names, so clients map them like RPC errors.
const (
	codeInvalidArgument    = "invalid_argument"
	codeNotFound           = "not_found"
	codeFailedPrecondition = "failed_precondition"
	codeResourceExhausted  = "resource_exhausted"
	codeAborted            = "aborted"
	codeUnauthenticated    = "unauthenticated"
	codeUnavailable        = "unavailable"
	codeInternal           = "internal"
)

// clientFrame is any frame a client sends; which fields count depends on Type.
type clientFrame struct {
	Type string `json:"type"`
	// Ref is an optional client-chosen id echoed in the replies and errors the frame causes.
	Ref     string     `json:"ref,omitempty"`
	Token   string     `json:"token,omitempty"`    // auth
	ChatID  string     `json:"chat_id,omitempty"`  // typing
	UserIDs []string   `json:"user_ids,omitempty"` // presence_query
	Chats   []syncChat `json:"chats,omitempty"`    // sync
}

// syncChat is one chat the client wants to catch up on: it has every message up to LastSeq.
type syncChat struct {
	ChatID  string `json:"chat_id"`
	LastSeq int64  `json:"last_seq"`
}

// route is what a gateway reads of a frame from Redis to decide who gets it; the frame's bytes
// are then sent on unchanged.
type route struct {
	Type         string `json:"type"`
	ChatID       string `json:"chat_id"`
	Seq          int64  `json:"seq"`
	SessionID    string `json:"session_id"`
	UserID       string `json:"user_id"`
	RequesterID  string `json:"requester_id"`
	AccepterID   string `json:"accepter_id"`
	FriendUserID string `json:"friend_user_id"`
}

type readyFrame struct {
	Type      string    `json:"type"`
	Ref       string    `json:"ref,omitempty"`
	Protocol  string    `json:"protocol"`
	ConnID    string    `json:"conn_id"`
	UserID    string    `json:"user_id"`
	SessionID string    `json:"session_id,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Limits    limits    `json:"limits"`
}

type limits struct {
	SendBuffer       int   `json:"send_buffer"`
	MaxFrameBytes    int64 `json:"max_frame_bytes"`
	SyncMaxChats     int   `json:"sync_max_chats"`
	SyncMaxMessages  int   `json:"sync_max_messages"`
	TypingIntervalMs int64 `json:"typing_interval_ms"`
	PresenceQueryMax int   `json:"presence_query_max"`
}

type authOKFrame struct {
	Type      string    `json:"type"`
	Ref       string    `json:"ref,omitempty"`
	SessionID string    `json:"session_id,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

type refFrame struct {
	Type string `json:"type"`
	Ref  string `json:"ref,omitempty"`
}

type errorFrame struct {
	Type    string `json:"type"`
	Ref     string `json:"ref,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
	ChatID  string `json:"chat_id,omitempty"`
}

type typingFrame struct {
	Type   string `json:"type"`
	ChatID string `json:"chat_id"`
	UserID string `json:"user_id"`
}

type presenceFrame struct {
	Type     string    `json:"type"`
	UserID   string    `json:"user_id"`
	Online   bool      `json:"online"`
	LastSeen time.Time `json:"last_seen,omitzero"`
}

type presenceEntry struct {
	UserID   string    `json:"user_id"`
	Online   bool      `json:"online"`
	LastSeen time.Time `json:"last_seen,omitzero"`
}

type presenceResultFrame struct {
	Type     string          `json:"type"`
	Ref      string          `json:"ref,omitempty"`
	Presence []presenceEntry `json:"presence"`
}

type messageFrame struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"` // the event id, for deduplication
	ChatID  string          `json:"chat_id"`
	Seq     int64           `json:"seq"`
	Replay  bool            `json:"replay,omitempty"`
	Ref     string          `json:"ref,omitempty"`
	Message json.RawMessage `json:"message"`
}

type syncDoneFrame struct {
	Type    string `json:"type"`
	Ref     string `json:"ref,omitempty"`
	ChatID  string `json:"chat_id"`
	LastSeq int64  `json:"last_seq"`
	Sent    int    `json:"sent"`
}

type syncRequiredFrame struct {
	Type    string `json:"type"`
	Ref     string `json:"ref,omitempty"`
	ChatID  string `json:"chat_id"`
	FromSeq int64  `json:"from_seq"`
	LastSeq int64  `json:"last_seq"`
	Reason  string `json:"reason"`
}

type syncCompleteFrame struct {
	Type  string `json:"type"`
	Ref   string `json:"ref,omitempty"`
	Chats int    `json:"chats"`
}

type revokeFrame struct {
	Type      string `json:"type"`
	SessionID string `json:"session_id"`
}

type unfriendFrame struct {
	Type   string `json:"type"`
	UserID string `json:"user_id"`
}

// mustJSON encodes a frame built from the types above, which cannot fail to encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("realtime: encode frame: " + err.Error())
	}
	return b
}

// RevokeFrame is the control frame telling every gateway to close the connections of sessionID
// (published to the session's user by the fan-out when auth revokes it).
func RevokeFrame(sessionID string) []byte {
	return mustJSON(revokeFrame{Type: typeRevoke, SessionID: sessionID})
}

// UnfriendFrame is the control frame telling the recipient's gateways to forget their friendship
// with userID, so presence and typing stop flowing between the two.
func UnfriendFrame(userID string) []byte {
	return mustJSON(unfriendFrame{Type: typeUnfriend, UserID: userID})
}

// MessageFrame is the frame of a new message, for the event eventID: the chat.v1.Message as
// ListMessages would render it.
func MessageFrame(eventID string, m *chatv1.Message) ([]byte, error) {
	body, err := messageJSON.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	return mustJSON(messageFrame{Type: TypeMessage, ID: eventID, ChatID: m.GetChatId(), Seq: m.GetSeq(), Message: body}), nil
}

// parseRoute reads the routing fields of a frame.
func parseRoute(payload []byte) (route, error) {
	var r route
	if err := json.Unmarshal(payload, &r); err != nil {
		return route{}, err
	}
	if r.Type == "" {
		return route{}, errNoType
	}
	return r, nil
}

var errNoType = errors.New("frame without type")

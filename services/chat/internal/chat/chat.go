// Package chat holds the chat service's domain: one-to-one chats between friends, their messages
// numbered by a gap-free seq, read cursors, and the use cases behind parley.chat.v1.ChatService.
// It knows nothing of Postgres, Redis or Connect; the interfaces it needs are declared here.
package chat

import (
	"time"

	"github.com/google/uuid"
)

// Message is one message in a chat.
type Message struct {
	ID          string
	ChatID      string
	Seq         int64
	SenderID    string
	Text        string
	ClientMsgID string
	SentAt      time.Time
	EditedAt    time.Time // zero if never edited
	DeletedAt   time.Time // zero unless deleted
	// Attachments are the files sent with the message, in the order given; empty when deleted.
	Attachments []Attachment
}

// Attachment is a file sent with a message. Its metadata is what the media service said when the
// message was sent (a READY file never changes) and is kept by the chat service with the message;
// the URLs are short-lived, asked of the media service for each reader, and never stored.
type Attachment struct {
	FileID      string
	Name        string // "" only for messages stored before attachments carried metadata
	ContentType string
	SizeBytes   int64
	Width       int32 // 0 when not an image
	Height      int32
	// URL downloads the file; ThumbnailURL is its 256x256 thumbnail (images only). Both are
	// empty when the media service could not be asked, or does not show the file to the reader
	// (it was deleted).
	URL          string
	ThumbnailURL string
	URLExpiresAt time.Time // zero when there are no URLs (or they do not expire)
}

// FileIDs returns the file ids of attachments, in order.
func FileIDs(attachments []Attachment) []string {
	ids := make([]string, len(attachments))
	for i, a := range attachments {
		ids[i] = a.FileID
	}
	return ids
}

// Deleted reports whether the message is a tombstone.
func (m Message) Deleted() bool { return !m.DeletedAt.IsZero() }

// Peer is the other participant of a chat, as the chat service's copy of profiles knows them.
type Peer struct {
	UserID       string
	Nickname     string // "" until the peer's ProfileUpdated has arrived
	AvatarFileID string
	// AvatarThumbnailURL is the avatar's 64x64 thumbnail as the media service serves it, carried
	// by ProfileUpdated; "" when there is no avatar (or no event has carried one yet).
	AvatarThumbnailURL string
	// DeletedAccount: the peer deleted their account; their messages are tombstones and the chat
	// cannot be sent to.
	DeletedAccount bool
}

// Chat is a one-to-one chat seen from one participant's side.
type Chat struct {
	ID             string
	Peer           Peer
	LastMessage    *Message // nil while the chat has none
	LastSeq        int64
	UnreadCount    int64
	ReadSeq        int64
	PeerReadSeq    int64
	CanSend        bool
	CreatedAt      time.Time
	LastActivityAt time.Time
}

// chatNamespace is the UUID namespace chat ids are derived in (a fixed random UUID: changing it
// would give every pair a second chat).
var chatNamespace = uuid.MustParse("6f1d3c2a-4b8e-4f0a-9c57-1e2d3b4a5c6d")

// ChatID is the id of the chat between users a and b (canonical UUIDs), whichever order they are
// given in: a version 5 UUID of the sorted pair. Deriving it means the friend events and the
// first SendMessage to a friend agree on the id without asking each other, and a send to a
// user_id needs no lookup to find the chat.
func ChatID(a, b string) string {
	lo, hi := Pair(a, b)
	return uuid.NewSHA1(chatNamespace, []byte(lo+":"+hi)).String()
}

// Pair returns a and b sorted, as the database stores a chat's participants.
func Pair(a, b string) (lo, hi string) {
	if a < b {
		return a, b
	}
	return b, a
}

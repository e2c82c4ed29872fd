package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"

	"github.com/google/uuid"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/pagetoken"
	"github.com/parleyhq/parley/platform/validate"
)

// NewMessage is a message to store, validated and normalised.
type NewMessage struct {
	ID          string // a fresh version 7 UUID
	ChatID      string
	SenderID    string
	ClientMsgID string
	Text        string
	// Attachments in the order given, with the metadata the media service gave when they were
	// checked (FileID only until then).
	Attachments []Attachment
}

// SendState is what the send path needs to know about a chat before it asks the media service.
type SendState struct {
	Participant bool     // the sender takes part in the chat (false: no such chat of theirs)
	CanSend     bool     // and may send there
	Duplicate   *Message // the message the sender already stored with this client_msg_id, if any
}

// ChangeKind says what ChangeMessage's callback decided.
type ChangeKind int

// Change kinds.
const (
	NoChange ChangeKind = iota // leave the message as it is (and publish nothing)
	Edit                       // replace the text
	Delete                     // make the message a tombstone
)

// MessageChange is ChangeMessage's callback's decision.
type MessageChange struct {
	Kind ChangeKind
	Text string // the new text, for Edit
}

// Store keeps chats, messages and read cursors (chatdb implements it). Every method that names a
// chat checks that userID (or the sender) is one of its two participants and treats any other
// chat as missing.
type Store interface {
	// Send stores m in chat m.ChatID with the chat's next seq, and MessageSent with it, in one
	// transaction, and returns once it has committed. When the sender already stored a message
	// with m.ClientMsgID in that chat, it stores nothing and returns that message with duplicate
	// true. Errors: ErrChatNotFound (no such chat of the sender's), ErrNotFriends (the chat does
	// not allow sending).
	Send(ctx context.Context, m NewMessage) (msg Message, duplicate bool, err error)
	// SendState tells whether senderID takes part in chatID and may send there, and finds the
	// message the sender stored there with clientMsgID, if any (a send with attachments asks
	// before it calls the media service, so that a retry does not).
	SendState(ctx context.Context, senderID, chatID, clientMsgID string) (SendState, error)
	// CreateChat creates the chat between a and b, allowing sending, unless one exists already
	// (then it is left exactly as it is: only friend events change an existing chat). It creates
	// none, and answers ErrNotFriends, when either account was deleted.
	CreateChat(ctx context.Context, a, b string) error
	// ListMessages returns up to limit messages of chatID with seq beyond bound (exclusive) in
	// direction d: seq < bound newest first (Older), or seq > bound oldest first (Newer).
	ListMessages(ctx context.Context, userID, chatID string, d Direction, bound int64, limit int) ([]Message, error)
	// ListChats returns up to limit of userID's chats after the cursor (nil: from the start), most
	// recent activity first.
	ListChats(ctx context.Context, userID string, after *ChatCursor, limit int) ([]Chat, error)
	// GetChat returns one of userID's chats, or ErrChatNotFound.
	GetChat(ctx context.Context, userID, chatID string) (Chat, error)
	// MarkRead moves userID's read cursor in chatID to min(upTo, last seq) unless it is already
	// there or beyond, publishing MessagesRead when it moves, and returns the cursor and the
	// unread count after the call.
	MarkRead(ctx context.Context, userID, chatID string, upTo int64) (readSeq, unread int64, err error)
	// ChangeMessage locks message messageID of chatID (a chat of userID's, else
	// ErrMessageNotFound), asks change what to do with it, applies that with MessageEdited or
	// MessageDeleted in the same transaction, and returns the message as it is afterwards. An
	// error from change is returned as it is and changes nothing.
	ChangeMessage(ctx context.Context, userID, chatID, messageID string, change func(m Message, canSend bool) (MessageChange, error)) (Message, error)
	// Access tells whether userID takes part in chatID and may send there; an unknown chat is
	// (false, false, nil).
	Access(ctx context.Context, userID, chatID string) (participant, canSend bool, err error)
}

// Friendships asks the friend service whether two users are friends, on the caller's behalf
// (friendclient implements it). It returns domainerr.ErrUnavailable when the service cannot answer.
type Friendships interface {
	AreFriends(ctx context.Context, a, b string) (bool, error)
}

// FriendshipCache keeps the friend service's recent answers (chatcache implements it over
// Redis). Friend events invalidate entries; see Service.friends for why a late fill is harmless.
type FriendshipCache interface {
	// Get returns the cached answer for the pair, found false when there is none.
	Get(ctx context.Context, a, b string) (friends, found bool, err error)
	// Put caches an answer for the pair.
	Put(ctx context.Context, a, b string, friends bool) error
}

// Service holds the chat use cases behind the RPCs.
type Service struct {
	store   Store
	friends Friendships
	cache   FriendshipCache
	files   Files
	logger  *slog.Logger
}

// NewService wires the use cases. files may be nil only where no message has attachments
// (benchmarks): sending one is then Unavailable.
func NewService(store Store, friends Friendships, cache FriendshipCache, files Files, logger *slog.Logger) *Service {
	return &Service{store: store, friends: friends, cache: cache, files: files, logger: logger}
}

// SendRequest is a message to send: to a friend (UserID) or in a chat (ChatID), exactly one.
type SendRequest struct {
	UserID        string
	ChatID        string
	ClientMsgID   string
	Text          string
	AttachmentIDs []string
}

// Send stores a message from callerID. It is idempotent on (sender, chat, ClientMsgID): a repeat
// returns the first message, unchanged, with duplicate true.
//
// Once a chat exists its can_send flag, kept by friend events, decides; no other service is
// asked. Only a send to a user_id without a chat (the FriendAccepted event has not arrived yet)
// asks the friend service, and creates the chat when the two are friends. A message with
// attachments also asks the media service about its files (see sendWithAttachments).
func (s *Service) Send(ctx context.Context, callerID string, req SendRequest) (Message, bool, error) {
	m, peerID, err := s.validateSend(callerID, req)
	if err != nil {
		return Message{}, false, err
	}
	if len(m.Attachments) > 0 {
		return s.sendWithAttachments(ctx, m, peerID)
	}
	msg, dup, err := s.store.Send(ctx, m)
	if peerID == "" || !errors.Is(err, ErrChatNotFound) {
		return msg, dup, err
	}
	if err := s.openChat(ctx, callerID, peerID); err != nil {
		return Message{}, false, err
	}
	return s.store.Send(ctx, m)
}

// sendWithAttachments is Send for a message with files. Before anything is stored, the chat is
// resolved (a duplicate client_msg_id returns the stored message without asking the media
// service; a send to a friend without a chat creates it), then the media service is asked about
// the files with the sender's token and each must be the sender's READY attachment uploaded for
// this chat. Their metadata is stored with the message in the send's transaction. The response
// carries the URLs from that same answer, so the media service is asked once.
func (s *Service) sendWithAttachments(ctx context.Context, m NewMessage, peerID string) (Message, bool, error) {
	st, err := s.store.SendState(ctx, m.SenderID, m.ChatID, m.ClientMsgID)
	if err != nil {
		return Message{}, false, err
	}
	switch {
	case st.Duplicate != nil:
		return *st.Duplicate, true, nil
	case !st.Participant && peerID == "":
		return Message{}, false, ErrChatNotFound
	case !st.Participant:
		if err := s.openChat(ctx, m.SenderID, peerID); err != nil {
			return Message{}, false, err
		}
	case !st.CanSend:
		return Message{}, false, ErrNotFriends
	}
	if err := s.checkAttachments(ctx, &m); err != nil {
		return Message{}, false, err
	}
	msg, dup, err := s.store.Send(ctx, m)
	if err != nil {
		return Message{}, false, err
	}
	// The URLs of the answer just received (a concurrent first send of the same client_msg_id
	// may have stored other files: only matching ones get them).
	checked := make(map[string]Attachment, len(m.Attachments))
	for _, a := range m.Attachments {
		checked[a.FileID] = a
	}
	for i := range msg.Attachments {
		a := &msg.Attachments[i]
		if c, ok := checked[a.FileID]; ok {
			a.URL, a.ThumbnailURL, a.URLExpiresAt = c.URL, c.ThumbnailURL, c.URLExpiresAt
		}
	}
	return msg, dup, nil
}

// openChat creates the chat of callerID and peerID if the friend service says they are friends
// (ErrNotFriends otherwise). An existing chat is left as it is.
func (s *Service) openChat(ctx context.Context, callerID, peerID string) error {
	friends, err := s.areFriends(ctx, callerID, peerID)
	if err != nil {
		return err
	}
	if !friends {
		return ErrNotFriends
	}
	return s.store.CreateChat(ctx, callerID, peerID)
}

// validateSend checks every field of req, reporting all problems at once, and returns the
// message to store and, for a send to a user, that user.
func (s *Service) validateSend(callerID string, req SendRequest) (NewMessage, string, error) {
	var problems validate.Problems
	m := NewMessage{SenderID: callerID}
	var peerID string
	var err error
	switch {
	case req.UserID != "" && req.ChatID != "":
		problems.Add(domainerr.Errorf(domainerr.ErrInvalidArgument, "to: set user_id or chat_id, not both"))
	case req.ChatID != "":
		m.ChatID, err = validate.UUID("chat_id", req.ChatID)
		problems.Add(err)
	case req.UserID != "":
		peerID, err = validate.UUID("user_id", req.UserID)
		problems.Add(err)
		if err == nil && peerID == callerID {
			problems.Add(domainerr.Errorf(domainerr.ErrInvalidArgument, "user_id: you cannot send messages to yourself"))
		}
		m.ChatID = ChatID(callerID, peerID)
	default:
		problems.Add(domainerr.Errorf(domainerr.ErrInvalidArgument, "to: set user_id (a friend) or chat_id"))
	}
	m.ClientMsgID, err = validate.UUID("client_msg_id", req.ClientMsgID)
	problems.Add(err)
	ids, err := NormalizeAttachments(req.AttachmentIDs)
	problems.Add(err)
	for _, id := range ids {
		m.Attachments = append(m.Attachments, Attachment{FileID: id})
	}
	m.Text, err = NormalizeText(req.Text, len(req.AttachmentIDs) > 0)
	problems.Add(err)
	if err := problems.Err(); err != nil {
		return NewMessage{}, "", err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return NewMessage{}, "", fmt.Errorf("new message id: %w", err)
	}
	m.ID = id.String()
	return m, peerID, nil
}

// areFriends answers from the cache, else from the friend service (caching the answer). The
// cache can only err towards a stale answer while no friend event for the pair has been handled:
// the FriendAccepted or FriendRemoved handler creates or updates the pair's chat, and from then on
// Send finds the chat and its can_send flag and never asks here. The events also drop the entry.
func (s *Service) areFriends(ctx context.Context, a, b string) (bool, error) {
	friends, found, err := s.cache.Get(ctx, a, b)
	if err != nil {
		s.logger.WarnContext(ctx, "friendship cache read failed; asking the friend service", slog.Any("error", err))
	}
	if err == nil && found {
		return friends, nil
	}
	friends, err = s.friends.AreFriends(ctx, a, b)
	if err != nil {
		return false, err
	}
	if err := s.cache.Put(ctx, a, b, friends); err != nil {
		s.logger.WarnContext(ctx, "friendship cache fill failed", slog.Any("error", err))
	}
	return friends, nil
}

// ListMessagesRequest asks for one page of a chat's messages.
type ListMessagesRequest struct {
	ChatID    string
	Direction Direction // 0 means Older
	FromSeq   int64
	PageSize  int32
	PageToken string
}

// MessagePage is one page of messages and the token for the next ("" when there is none).
type MessagePage struct {
	Messages      []Message
	NextPageToken string
}

// ListMessages returns a page of a chat of callerID's, tombstones included.
func (s *Service) ListMessages(ctx context.Context, callerID string, req ListMessagesRequest) (MessagePage, error) {
	chatID, err := validate.UUID("chat_id", req.ChatID)
	if err != nil {
		return MessagePage{}, err
	}
	d := req.Direction
	switch d {
	case 0:
		d = Older
	case Older, Newer:
	default:
		return MessagePage{}, domainerr.Errorf(domainerr.ErrInvalidArgument, "direction: must be PAGE_DIRECTION_OLDER or PAGE_DIRECTION_NEWER")
	}
	limit, err := validate.PageSize(req.PageSize, DefaultMessagesPageSize, MaxPageSize)
	if err != nil {
		return MessagePage{}, err
	}
	if req.FromSeq < 0 {
		return MessagePage{}, domainerr.Errorf(domainerr.ErrInvalidArgument, "from_seq: must not be negative, got %d", req.FromSeq)
	}
	bound := req.FromSeq
	if req.PageToken != "" {
		if bound, err = DecodeMessagesToken(req.PageToken, chatID, d); err != nil {
			return MessagePage{}, err
		}
	} else if d == Older && bound == 0 {
		bound = math.MaxInt64
	}
	msgs, err := s.store.ListMessages(ctx, callerID, chatID, d, bound, limit+1)
	if err != nil {
		return MessagePage{}, err
	}
	var page MessagePage
	page.Messages, page.NextPageToken = pagetoken.Cut(msgs, limit, func(last Message) string {
		return MessagesToken(chatID, d, last.Seq)
	})
	ptrs := make([]*Message, len(page.Messages))
	for i := range page.Messages {
		ptrs[i] = &page.Messages[i]
	}
	s.fillURLs(ctx, ptrs...)
	return page, nil
}

// ChatPage is one page of chats and the token for the next ("" when there is none).
type ChatPage struct {
	Chats         []Chat
	NextPageToken string
}

// ListChats returns a page of callerID's chats, most recent activity first.
func (s *Service) ListChats(ctx context.Context, callerID string, pageSize int32, pageToken string) (ChatPage, error) {
	limit, err := validate.PageSize(pageSize, DefaultChatsPageSize, MaxPageSize)
	if err != nil {
		return ChatPage{}, err
	}
	after, err := DecodeChatsToken(pageToken)
	if err != nil {
		return ChatPage{}, err
	}
	chats, err := s.store.ListChats(ctx, callerID, after, limit+1)
	if err != nil {
		return ChatPage{}, err
	}
	var page ChatPage
	page.Chats, page.NextPageToken = pagetoken.Cut(chats, limit, func(last Chat) string {
		return ChatsToken(ChatCursor{LastActivityAt: last.LastActivityAt, ChatID: last.ID})
	})
	var last []*Message
	for _, c := range page.Chats {
		if c.LastMessage != nil {
			last = append(last, c.LastMessage)
		}
	}
	s.fillURLs(ctx, last...)
	return page, nil
}

// GetChat returns a chat of callerID's named by its id or by the other participant (exactly one),
// its last message's attachments with URLs.
func (s *Service) GetChat(ctx context.Context, callerID, chatID, userID string) (Chat, error) {
	c, err := s.getChat(ctx, callerID, chatID, userID)
	if err == nil && c.LastMessage != nil {
		s.fillURLs(ctx, c.LastMessage)
	}
	return c, err
}

func (s *Service) getChat(ctx context.Context, callerID, chatID, userID string) (Chat, error) {
	switch {
	case chatID != "" && userID != "":
		return Chat{}, domainerr.Errorf(domainerr.ErrInvalidArgument, "by: set chat_id or user_id, not both")
	case chatID != "":
		id, err := validate.UUID("chat_id", chatID)
		if err != nil {
			return Chat{}, err
		}
		return s.store.GetChat(ctx, callerID, id)
	case userID != "":
		peer, err := validate.UUID("user_id", userID)
		if err != nil {
			return Chat{}, err
		}
		c, err := s.store.GetChat(ctx, callerID, ChatID(callerID, peer))
		if errors.Is(err, ErrChatNotFound) {
			return Chat{}, domainerr.Errorf(domainerr.ErrNotFound, "user_id: you have no chat with that user")
		}
		return c, err
	}
	return Chat{}, domainerr.Errorf(domainerr.ErrInvalidArgument, "by: set chat_id or user_id")
}

// MarkRead moves callerID's read cursor in a chat forward to upTo (clamped to the last seq).
func (s *Service) MarkRead(ctx context.Context, callerID, chatID string, upTo int64) (readSeq, unread int64, err error) {
	id, err := validate.UUID("chat_id", chatID)
	if err != nil {
		return 0, 0, err
	}
	if upTo < 0 {
		return 0, 0, domainerr.Errorf(domainerr.ErrInvalidArgument, "up_to_seq: must not be negative, got %d", upTo)
	}
	return s.store.MarkRead(ctx, callerID, id, upTo)
}

// EditMessage replaces the text of one of callerID's messages. The same text again changes
// nothing.
func (s *Service) EditMessage(ctx context.Context, callerID, chatID, messageID, text string) (Message, error) {
	cid, cidErr := validate.UUID("chat_id", chatID)
	mid, midErr := validate.UUID("message_id", messageID)
	// Empty text is allowed here only for a message with attachments, which the store knows.
	text, textErr := NormalizeText(text, true)
	if err := validate.Join(cidErr, midErr, textErr); err != nil {
		return Message{}, err
	}
	edited, err := s.store.ChangeMessage(ctx, callerID, cid, mid, func(m Message, canSend bool) (MessageChange, error) {
		switch {
		case m.SenderID != callerID:
			return MessageChange{}, ErrNotYourMessage
		case m.Deleted():
			return MessageChange{}, ErrMessageDeleted
		case !canSend:
			return MessageChange{}, ErrNotFriends
		case text == "" && len(m.Attachments) == 0:
			return MessageChange{}, domainerr.Errorf(domainerr.ErrInvalidArgument, "text: required (the message has no attachments)")
		case text == m.Text:
			return MessageChange{Kind: NoChange}, nil
		}
		return MessageChange{Kind: Edit, Text: text}, nil
	})
	if err != nil {
		return Message{}, err
	}
	s.fillURLs(ctx, &edited) // attachments are kept by an edit
	return edited, nil
}

// DeleteMessage makes one of callerID's messages a tombstone; deleting it again succeeds.
func (s *Service) DeleteMessage(ctx context.Context, callerID, chatID, messageID string) (Message, error) {
	cid, err := validate.UUID("chat_id", chatID)
	if err != nil {
		return Message{}, err
	}
	mid, err := validate.UUID("message_id", messageID)
	if err != nil {
		return Message{}, err
	}
	return s.store.ChangeMessage(ctx, callerID, cid, mid, func(m Message, _ bool) (MessageChange, error) {
		switch {
		case m.SenderID != callerID:
			return MessageChange{}, ErrNotYourMessage
		case m.Deleted():
			return MessageChange{Kind: NoChange}, nil
		}
		return MessageChange{Kind: Delete}, nil
	})
}

// CheckChatAccess tells whether userID takes part in chatID and may send there. It is called by
// other services forwarding their user's token, so it answers only about that user.
func (s *Service) CheckChatAccess(ctx context.Context, callerID, chatID, userID string) (participant, canSend bool, err error) {
	cid, err := validate.UUID("chat_id", chatID)
	if err != nil {
		return false, false, err
	}
	uid, err := validate.UUID("user_id", userID)
	if err != nil {
		return false, false, err
	}
	if uid != callerID {
		return false, false, domainerr.Errorf(domainerr.ErrPermissionDenied, "user_id: you may ask only about the user whose access token you forward")
	}
	return s.store.Access(ctx, uid, cid)
}

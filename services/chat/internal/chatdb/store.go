// Package chatdb keeps chats, messages and read cursors in Postgres, and writes the chat events
// (MessageSent, MessagesRead, MessageEdited, MessageDeleted) to the outbox in the same
// transaction as each change.
package chatdb

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/services/chat/internal/chat"
)

// Publisher writes events to the transactional outbox (platform/events' Outbox): Publish inside
// tx, or Row for the send path's own statement; Wake after a commit wakes this process's relay.
type Publisher interface {
	Publish(ctx context.Context, tx events.Execer, topic, key string, msg proto.Message) (string, error)
	Row(ctx context.Context, topic, key string, msg proto.Message) (events.OutboxRow, error)
	Wake()
}

// Store is the Postgres implementation of chat.Store, and of what the event handlers need.
type Store struct {
	pool  *pgxpool.Pool
	pub   Publisher
	sends sendQueue
}

var _ chat.Store = (*Store)(nil)

// New returns a store on pool publishing through pub.
func New(pool *pgxpool.Pool, pub Publisher) *Store {
	return &Store{pool: pool, pub: pub}
}

// messageColumns are read by nullableMessage, from a messages row aliased m.
const messageColumns = `m.message_id::text, m.chat_id::text, m.seq, m.sender_id::text, m.text, m.client_msg_id::text,
	m.sent_at, m.edited_at, m.deleted_at, m.attachment_ids::text[], m.attachments`

// nullableMessage receives messageColumns where the row may be missing (outer joins).
type nullableMessage struct {
	id, chatID, senderID, text, clientMsgID *string
	seq                                     *int64
	sentAt, editedAt, deletedAt             *time.Time
	attachmentIDs                           []string
	attachments                             []storedAttachment
}

func (n *nullableMessage) dest() []any {
	return []any{&n.id, &n.chatID, &n.seq, &n.senderID, &n.text, &n.clientMsgID, &n.sentAt, &n.editedAt, &n.deletedAt, &n.attachmentIDs, &n.attachments}
}

// message returns the scanned message, or nil when the outer join found none.
func (n *nullableMessage) message() *chat.Message {
	if n.id == nil {
		return nil
	}
	m := chat.Message{ID: *n.id, ChatID: *n.chatID, Seq: *n.seq, SenderID: *n.senderID, Text: *n.text,
		ClientMsgID: *n.clientMsgID, SentAt: n.sentAt.UTC(), Attachments: attachmentsOf(n.attachmentIDs, n.attachments)}
	if n.editedAt != nil {
		m.EditedAt = n.editedAt.UTC()
	}
	if n.deletedAt != nil {
		m.DeletedAt = n.deletedAt.UTC()
	}
	return &m
}

// lockChatSQL takes a chat's event lock (chatLockClass, chatLockKey) until the transaction ends.
//
// Every transaction that writes a chat event takes it before its first write, so that the chat's
// events enter the outbox in commit order. The relay publishes in outbox-id order, and an event's
// id is taken when its row is inserted: holding this lock from before the chat's first write to
// the commit makes id order, lock order, seq order and commit order the same.
const lockChatSQL = `SELECT pg_advisory_xact_lock($1, $2)`

// chatLockClass is the first key of chat locks, apart from other advisory locks on the database.
const chatLockClass int32 = 7_301_084

// chatLockKey is the second key of chatID's lock. Two chats sharing a key only wait for each
// other now and then; nothing depends on keys being unique.
func chatLockKey(chatID string) int32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(chatID))
	return int32(h.Sum32()) // wrapping is fine: any 32 bits do
}

func lockChat(ctx context.Context, tx pgx.Tx, chatID string) error {
	if _, err := tx.Exec(ctx, lockChatSQL, chatLockClass, chatLockKey(chatID)); err != nil {
		return fmt.Errorf("lock chat %s: %w", chatID, err)
	}
	return nil
}

// peerOf returns the participant of the pair (lo, hi) who is not userID.
func peerOf(userID, lo, hi string) string {
	if userID == lo {
		return hi
	}
	return lo
}

// createChatSQL creates the chat of a pair with both participants' cursors; $4 is can_send. On a
// chat that exists it does nothing (the RPC path, $5 false) or sets can_send (friend events, $5
// true). When either participant's account was deleted it does nothing at all. Its one row says
// whether it created the chat and whether a participant's account was deleted.
const createChatSQL = `
WITH c AS (
    INSERT INTO chats (chat_id, user_lo, user_hi, can_send)
    SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM deleted_users WHERE user_id IN ($2, $3))
    ON CONFLICT (chat_id) DO UPDATE SET can_send = EXCLUDED.can_send WHERE $5
    RETURNING chat_id, (xmax = 0) AS created
), members AS (
    INSERT INTO chat_members (user_id, chat_id, peer_id)
    SELECT $2, chat_id, $3 FROM c UNION ALL SELECT $3, chat_id, $2 FROM c
    ON CONFLICT DO NOTHING
)
SELECT coalesce((SELECT created FROM c), false),
    EXISTS (SELECT 1 FROM deleted_users WHERE user_id IN ($2, $3))`

// CreateChat implements chat.Store: the chat of a and b, allowing sending, unless it exists.
func (s *Store) CreateChat(ctx context.Context, a, b string) error {
	lo, hi := chat.Pair(a, b)
	var created, deleted bool
	if err := s.pool.QueryRow(ctx, createChatSQL, chat.ChatID(a, b), lo, hi, true, false).Scan(&created, &deleted); err != nil {
		return fmt.Errorf("create chat of %s and %s: %w", lo, hi, err)
	}
	if deleted {
		// The friend service (or the friendship cache) may not know of the deletion yet: to the
		// sender, a stranger like any other.
		return chat.ErrNotFriends
	}
	return nil
}

// SetFriendship records in tx (a friend event handler's) whether a and b are friends: their chat
// is created if missing (so a chat exists for everyone who is or was a friend) and its can_send
// flag set. It reports whether the chat was created.
func (s *Store) SetFriendship(ctx context.Context, tx pgx.Tx, a, b string, friends bool) (created bool, err error) {
	lo, hi := chat.Pair(a, b)
	var deleted bool // one of them deleted their account: a late event changes nothing
	if err := tx.QueryRow(ctx, createChatSQL, chat.ChatID(a, b), lo, hi, friends, true).Scan(&created, &deleted); err != nil {
		return false, fmt.Errorf("set friendship of %s and %s: %w", lo, hi, err)
	}
	return created, nil
}

// PeerProfile is the part of a profile the chat service keeps.
type PeerProfile struct {
	UserID       string
	Nickname     string
	AvatarFileID string
	// AvatarThumbnailURL is the media service's 64x64 thumbnail URL as ProfileUpdated carried it.
	AvatarThumbnailURL string
	Version            int64
	UpdatedAt          time.Time
}

// UpsertPeer stores p in tx unless a version at least as new is stored or p's user deleted their
// account; it reports whether it stored it.
func (s *Store) UpsertPeer(ctx context.Context, tx pgx.Tx, p PeerProfile) (bool, error) {
	tag, err := tx.Exec(ctx, `
		INSERT INTO peer_profiles (user_id, nickname, avatar_file_id, avatar_thumbnail_url, version, updated_at)
		SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM deleted_users WHERE user_id = $1)
		ON CONFLICT (user_id) DO UPDATE SET nickname = EXCLUDED.nickname, avatar_file_id = EXCLUDED.avatar_file_id,
			avatar_thumbnail_url = EXCLUDED.avatar_thumbnail_url, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
		WHERE peer_profiles.version < EXCLUDED.version`,
		p.UserID, p.Nickname, p.AvatarFileID, p.AvatarThumbnailURL, p.Version, p.UpdatedAt)
	if err != nil {
		return false, fmt.Errorf("store profile of %s: %w", p.UserID, err)
	}
	return tag.RowsAffected() > 0, nil
}

// ListMessages implements chat.Store. One statement: the chat row checks the participant, the
// lateral subquery walks the primary key (chat_id, seq) in the asked direction.
func (s *Store) ListMessages(ctx context.Context, userID, chatID string, d chat.Direction, bound int64, limit int) ([]chat.Message, error) {
	walk := `m.seq < $3 ORDER BY m.seq DESC`
	if d == chat.Newer {
		walk = `m.seq > $3 ORDER BY m.seq`
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+messageColumns+`
		FROM chats c
		LEFT JOIN LATERAL (SELECT * FROM messages m WHERE m.chat_id = c.chat_id AND `+walk+` LIMIT $4) m ON true
		WHERE c.chat_id = $1 AND (c.user_lo = $2 OR c.user_hi = $2)`,
		chatID, userID, bound, limit)
	if err != nil {
		return nil, fmt.Errorf("list messages of %s: %w", chatID, err)
	}
	defer rows.Close()
	found := false
	var out []chat.Message
	for rows.Next() {
		found = true
		var n nullableMessage
		if err := rows.Scan(n.dest()...); err != nil {
			return nil, fmt.Errorf("list messages of %s: %w", chatID, err)
		}
		if m := n.message(); m != nil {
			out = append(out, *m)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list messages of %s: %w", chatID, err)
	}
	if !found {
		return nil, chat.ErrChatNotFound
	}
	return out, nil
}

// chatSQL selects chats as the member $1 sees them. The inner query picks the page (filter and
// limit go in with fmt), the outer one adds the peer's cursor and profile, the last message and
// the unread count (the peer's live messages after the member's cursor, counted on the primary
// key) for just that page.
const chatSQL = `
SELECT c.chat_id::text, c.peer_id::text, c.can_send, c.last_seq, c.read_seq, pm.read_seq, c.created_at, c.last_activity_at,
       coalesce(p.nickname, ''), coalesce(p.avatar_file_id, ''), coalesce(p.avatar_thumbnail_url, ''),
       EXISTS (SELECT 1 FROM deleted_users d WHERE d.user_id = c.peer_id),
       ` + messageColumns + `,
       (SELECT count(*) FROM messages u
        WHERE u.chat_id = c.chat_id AND u.seq > c.read_seq AND u.sender_id = c.peer_id AND u.deleted_at IS NULL)
FROM (
    SELECT ch.chat_id, ch.can_send, ch.last_seq, ch.created_at, ch.last_activity_at, me.peer_id, me.read_seq
    FROM chat_members me JOIN chats ch ON ch.chat_id = me.chat_id
    WHERE me.user_id = $1 AND %s
    ORDER BY ch.last_activity_at DESC, ch.chat_id DESC
    LIMIT %s
) c
JOIN chat_members pm ON pm.user_id = c.peer_id AND pm.chat_id = c.chat_id
LEFT JOIN peer_profiles p ON p.user_id = c.peer_id
LEFT JOIN messages m ON m.chat_id = c.chat_id AND m.seq = c.last_seq
ORDER BY c.last_activity_at DESC, c.chat_id DESC`

var (
	listChatsSQL = fmt.Sprintf(chatSQL, `($2::timestamptz IS NULL OR (ch.last_activity_at, ch.chat_id) < ($2::timestamptz, $3::uuid))`, `$4`)
	getChatSQL   = fmt.Sprintf(chatSQL, `me.chat_id = $2`, `1`)
)

func scanChat(row pgx.Row) (chat.Chat, error) {
	var c chat.Chat
	var last nullableMessage
	dest := append([]any{&c.ID, &c.Peer.UserID, &c.CanSend, &c.LastSeq, &c.ReadSeq, &c.PeerReadSeq, &c.CreatedAt, &c.LastActivityAt,
		&c.Peer.Nickname, &c.Peer.AvatarFileID, &c.Peer.AvatarThumbnailURL, &c.Peer.DeletedAccount}, last.dest()...)
	if err := row.Scan(append(dest, &c.UnreadCount)...); err != nil {
		return chat.Chat{}, err
	}
	c.CreatedAt = c.CreatedAt.UTC()
	c.LastActivityAt = c.LastActivityAt.UTC()
	c.LastMessage = last.message()
	return c, nil
}

// ListChats implements chat.Store.
func (s *Store) ListChats(ctx context.Context, userID string, after *chat.ChatCursor, limit int) ([]chat.Chat, error) {
	var at *time.Time
	var afterID *string
	if after != nil {
		at, afterID = &after.LastActivityAt, &after.ChatID
	}
	chats, err := pg.QueryAll(ctx, s.pool, scanChat, listChatsSQL, userID, at, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list chats of %s: %w", userID, err)
	}
	return chats, nil
}

// GetChat implements chat.Store.
func (s *Store) GetChat(ctx context.Context, userID, chatID string) (chat.Chat, error) {
	c, err := scanChat(s.pool.QueryRow(ctx, getChatSQL, userID, chatID))
	if errors.Is(err, pgx.ErrNoRows) {
		return chat.Chat{}, chat.ErrChatNotFound
	}
	if err != nil {
		return chat.Chat{}, fmt.Errorf("get chat %s: %w", chatID, err)
	}
	return c, nil
}

// Access implements chat.Store.
func (s *Store) Access(ctx context.Context, userID, chatID string) (participant, canSend bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT can_send FROM chats WHERE chat_id = $1 AND (user_lo = $2 OR user_hi = $2)`,
		chatID, userID).Scan(&canSend)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("check access to chat %s: %w", chatID, err)
	}
	return true, canSend, nil
}

// MarkRead implements chat.Store. The cursor moves under the chat's event lock and the member
// row's lock, only forwards, clamped to the chat's last seq; the event is written only when it
// moved.
func (s *Store) MarkRead(ctx context.Context, userID, chatID string, upTo int64) (readSeq, unread int64, err error) {
	err = pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockChat(ctx, tx, chatID); err != nil {
			return err
		}
		var peerID string
		var moved bool
		err := tx.QueryRow(ctx, `
			WITH me AS (
			    SELECT m.peer_id, c.last_seq FROM chat_members m JOIN chats c ON c.chat_id = m.chat_id
			    WHERE m.user_id = $1 AND m.chat_id = $2
			), upd AS (
			    UPDATE chat_members m SET read_seq = least($3, me.last_seq) FROM me
			    WHERE m.user_id = $1 AND m.chat_id = $2 AND m.read_seq < least($3, me.last_seq)
			    RETURNING m.read_seq
			)
			SELECT me.peer_id::text, EXISTS (SELECT FROM upd) FROM me`, userID, chatID, upTo).Scan(&peerID, &moved)
		if errors.Is(err, pgx.ErrNoRows) {
			return chat.ErrChatNotFound
		}
		if err != nil {
			return fmt.Errorf("move read cursor: %w", err)
		}
		// A new statement sees the cursor as it is now, also when a concurrent MarkRead moved it
		// further than this one asked.
		var readAt time.Time
		if err := tx.QueryRow(ctx, `
			SELECT m.read_seq, clock_timestamp(),
			       (SELECT count(*) FROM messages u
			        WHERE u.chat_id = m.chat_id AND u.seq > m.read_seq AND u.sender_id = m.peer_id AND u.deleted_at IS NULL)
			FROM chat_members m WHERE m.user_id = $1 AND m.chat_id = $2`, userID, chatID).Scan(&readSeq, &readAt, &unread); err != nil {
			return fmt.Errorf("read cursor: %w", err)
		}
		if !moved {
			return nil
		}
		_, err = s.pub.Publish(ctx, tx, topics.Chat, chatID, &eventsv1.MessagesRead{
			ChatId: chatID, ReaderId: userID, UpToSeq: readSeq, ReadAt: timestamppb.New(readAt), PeerId: peerID,
		})
		return err
	})
	if err != nil {
		return 0, 0, wrapTx("mark read in chat "+chatID, err)
	}
	s.pub.Wake()
	return readSeq, unread, nil
}

// ChangeMessage implements chat.Store. It takes the chat's event lock (so the chat's events stay
// in commit order), locks the message row for the change, and share-locks the chat row so that a
// FriendRemoved being applied at the same time is ordered before or after the edit, never beside
// it.
func (s *Store) ChangeMessage(ctx context.Context, userID, chatID, messageID string, change func(m chat.Message, canSend bool) (chat.MessageChange, error)) (chat.Message, error) {
	var out chat.Message
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockChat(ctx, tx, chatID); err != nil {
			return err
		}
		var n nullableMessage
		var canSend bool
		var lo, hi string
		err := tx.QueryRow(ctx, `
			SELECT `+messageColumns+`, c.can_send, c.user_lo::text, c.user_hi::text
			FROM messages m JOIN chats c ON c.chat_id = m.chat_id
			WHERE m.chat_id = $1 AND m.message_id = $2 AND (c.user_lo = $3 OR c.user_hi = $3)
			FOR NO KEY UPDATE OF m FOR SHARE OF c`, chatID, messageID, userID).Scan(append(n.dest(), &canSend, &lo, &hi)...)
		if errors.Is(err, pgx.ErrNoRows) {
			return chat.ErrMessageNotFound
		}
		if err != nil {
			return fmt.Errorf("lock message: %w", err)
		}
		m := *n.message()
		c, err := change(m, canSend)
		if err != nil {
			return err
		}
		recipient := peerOf(m.SenderID, lo, hi)
		switch c.Kind {
		case chat.NoChange:
			out = m
			return nil
		case chat.Edit:
			if err := tx.QueryRow(ctx, `UPDATE messages SET text = $3, edited_at = clock_timestamp() WHERE chat_id = $1 AND seq = $2 RETURNING edited_at`,
				chatID, m.Seq, c.Text).Scan(&m.EditedAt); err != nil {
				return fmt.Errorf("edit message: %w", err)
			}
			m.Text, m.EditedAt = c.Text, m.EditedAt.UTC()
			_, err = s.pub.Publish(ctx, tx, topics.Chat, chatID, &eventsv1.MessageEdited{
				ChatId: chatID, MessageId: m.ID, Seq: m.Seq, SenderId: m.SenderID, RecipientId: recipient,
				Text: m.Text, EditedAt: timestamppb.New(m.EditedAt),
			})
		case chat.Delete:
			if err := tx.QueryRow(ctx, `UPDATE messages SET text = '', attachment_ids = '{}', attachments = '[]', deleted_at = clock_timestamp() WHERE chat_id = $1 AND seq = $2 RETURNING deleted_at`,
				chatID, m.Seq).Scan(&m.DeletedAt); err != nil {
				return fmt.Errorf("delete message: %w", err)
			}
			m.Text, m.Attachments, m.DeletedAt = "", nil, m.DeletedAt.UTC()
			_, err = s.pub.Publish(ctx, tx, topics.Chat, chatID, &eventsv1.MessageDeleted{
				ChatId: chatID, MessageId: m.ID, Seq: m.Seq, SenderId: m.SenderID, RecipientId: recipient,
				DeletedAt: timestamppb.New(m.DeletedAt),
			})
		default:
			return fmt.Errorf("unknown message change %d", c.Kind)
		}
		out = m
		return err
	})
	if err != nil {
		return chat.Message{}, wrapTx("change message "+messageID, err)
	}
	s.pub.Wake()
	return out, nil
}

// wrapTx passes domain errors through unchanged (their message is for the caller) and wraps the
// rest with what was being done.
func wrapTx(what string, err error) error {
	var de *domainerr.Error
	if errors.As(err, &de) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

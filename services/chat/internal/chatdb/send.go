package chatdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/services/chat/internal/chat"
)

// sendSQL is the whole state change of a send, and its event, in one statement:
//
//   - chat: the chat, if the sender takes part in it (no row: NotFound);
//   - dup: the sender's message with this client_msg_id, if there is one (idempotency);
//   - bump: takes the chat row's lock and the next seq, unless the message is a duplicate or the
//     chat does not allow sending. Under READ COMMITTED a sender that waited for the lock
//     re-reads the row (and re-checks can_send) after the holder commits, so seqs are handed out
//     one by one in lock order: gap-free and strictly increasing. The time is taken under the
//     lock too, so sent_at grows with seq;
//   - ins: the message with that seq, its attachments' ids ($6) and metadata ($7);
//   - ev: its MessageSent in the outbox ($8-$15: events.OutboxRow's values), whose payload Go
//     built without the three fields only this statement knows, appended here by
//     message_sent_tail (migration 0004): the seq, the recipient and sent_at.
//
// Two concurrent sends of one client_msg_id both miss dup; the second then fails on the unique
// key after the first commits, and Send retries it once, which finds the first in dup.
const sendSQL = `
WITH chat AS (
    SELECT chat_id, user_lo, user_hi FROM chats
    WHERE chat_id = $1 AND (user_lo = $2 OR user_hi = $2)
), dup AS (
    SELECT message_id, seq, text, attachment_ids, attachments, sent_at, edited_at, deleted_at FROM messages
    WHERE chat_id = $1 AND sender_id = $2 AND client_msg_id = $3
), bump AS (
    UPDATE chats c SET last_seq = c.last_seq + 1, last_activity_at = clock_timestamp()
    FROM chat
    WHERE c.chat_id = chat.chat_id AND c.can_send AND NOT EXISTS (SELECT FROM dup)
    RETURNING c.last_seq, c.last_activity_at
), ins AS (
    INSERT INTO messages (chat_id, seq, message_id, sender_id, client_msg_id, text, attachment_ids, attachments, sent_at)
    SELECT $1, last_seq, $4, $2, $3, $5, $6, $7::jsonb, last_activity_at FROM bump
    RETURNING seq, sent_at
), ev AS (
    INSERT INTO outbox (` + events.OutboxColumns + `)
    SELECT $8, $9, $10, $11, $12, $13,
           $14::bytea || message_sent_tail(ins.seq, CASE WHEN chat.user_lo = $2 THEN chat.user_hi ELSE chat.user_lo END, ins.sent_at),
           $15
    FROM ins, chat
)
SELECT chat.user_lo::text, chat.user_hi::text, ins.seq, ins.sent_at,
       dup.message_id::text, dup.seq, dup.text, dup.attachment_ids::text[], dup.attachments, dup.sent_at, dup.edited_at, dup.deleted_at
FROM chat LEFT JOIN ins ON true LEFT JOIN dup ON true`

// Send implements chat.Store.
//
// The transaction is one round trip to Postgres, a pipelined batch of prepared statements (pgx
// caches them per connection): BEGIN, the chat's lock, sendSQL, COMMIT. The chat's lock is held
// only while sendSQL and the commit run, not across a round trip.
func (s *Store) Send(ctx context.Context, m chat.NewMessage) (chat.Message, bool, error) {
	msg, dup, err := s.send(ctx, m)
	if isUniqueViolation(err, "messages_chat_id_sender_id_client_msg_id_key") {
		// A concurrent send of the same client_msg_id committed first; now dup finds it.
		msg, dup, err = s.send(ctx, m)
	}
	return msg, dup, err
}

// sendStateSQL is what a send with attachments reads before it asks the media service: the chat,
// if the sender takes part in it, and the sender's message with this client_msg_id, if any.
const sendStateSQL = `
SELECT c.can_send, ` + messageColumns + `
FROM chats c
LEFT JOIN messages m ON m.chat_id = c.chat_id AND m.sender_id = $2 AND m.client_msg_id = $3
WHERE c.chat_id = $1 AND (c.user_lo = $2 OR c.user_hi = $2)`

// SendState implements chat.Store. One indexed read, outside any transaction: Send checks all of
// it again under the chat's lock.
func (s *Store) SendState(ctx context.Context, senderID, chatID, clientMsgID string) (chat.SendState, error) {
	var st chat.SendState
	var n nullableMessage
	err := s.pool.QueryRow(ctx, sendStateSQL, chatID, senderID, clientMsgID).Scan(append([]any{&st.CanSend}, n.dest()...)...)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return chat.SendState{}, nil
	case err != nil:
		return chat.SendState{}, fmt.Errorf("read chat %s before a send: %w", chatID, err)
	}
	st.Participant = true
	st.Duplicate = n.message()
	return st, nil
}

func (s *Store) send(ctx context.Context, m chat.NewMessage) (chat.Message, bool, error) {
	attachmentIDs, attachments := storedAttachments(m.Attachments)
	msgAttachments := attachmentsOf(attachmentIDs, attachments)
	// The event without seq, recipient_id and sent_at: sendSQL appends them.
	row, err := s.pub.Row(ctx, topics.Chat, m.ChatID, &eventsv1.MessageSent{
		ChatId: m.ChatID, MessageId: m.ID, SenderId: m.SenderID, Text: m.Text, ClientMsgId: m.ClientMsgID,
		Attachments: eventAttachments(msgAttachments),
	})
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("send message: %w", err)
	}

	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("send message: acquire connection: %w", err)
	}
	// Every way out but the commit ends the transaction here. (A connection still inside a
	// transaction when released would be closed by the pool, which makes the server roll back.)
	committed := false
	defer func() {
		if !committed {
			rollback(ctx, conn.Conn())
		}
		conn.Release()
	}()

	var r struct {
		lo, hi string
		seq    *int64
		sentAt *time.Time
		dup    nullableMessage
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(lockChatSQL, chatLockClass, chatLockKey(m.ChatID))
	b.Queue(sendSQL, append([]any{m.ChatID, m.SenderID, m.ClientMsgID, m.ID, m.Text, attachmentIDs, attachments}, row.Values()...)...)
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	_, err = br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		d := &r.dup
		err = br.QueryRow().Scan(&r.lo, &r.hi, &r.seq, &r.sentAt, &d.id, &d.seq, &d.text, &d.attachmentIDs, &d.attachments, &d.sentAt, &d.editedAt, &d.deletedAt)
	}
	// The commit comes after the statement whatever it found: a duplicate, a refused send or an
	// unknown chat wrote nothing, so committing it costs nothing more than a rollback would.
	var tag pgconn.CommandTag
	if err == nil || errors.Is(err, pgx.ErrNoRows) {
		var cerr error
		if tag, cerr = br.Exec(); cerr != nil {
			err = cerr
		} else if tag.String() != "COMMIT" {
			err = fmt.Errorf("commit ended with %q", tag.String())
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return chat.Message{}, false, chat.ErrChatNotFound
	case err != nil:
		return chat.Message{}, false, fmt.Errorf("send message: %w", err)
	}
	committed = true
	switch {
	case r.dup.id != nil:
		d := r.dup
		d.chatID, d.senderID, d.clientMsgID = &m.ChatID, &m.SenderID, &m.ClientMsgID
		return *d.message(), true, nil
	case r.seq == nil:
		return chat.Message{}, false, chat.ErrNotFriends
	}
	s.pub.Wake()
	return chat.Message{ID: m.ID, ChatID: m.ChatID, Seq: *r.seq, SenderID: m.SenderID, Text: m.Text,
		ClientMsgID: m.ClientMsgID, SentAt: r.sentAt.UTC(), Attachments: msgAttachments}, false, nil
}

// rollback ends conn's transaction after a failure, if one is open. It runs even when ctx has
// ended (a cancelled request), bounded.
func rollback(ctx context.Context, conn *pgx.Conn) {
	if conn.IsClosed() || conn.PgConn().TxStatus() == 'I' {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = conn.Exec(rctx, "ROLLBACK") // on failure the pool closes the connection on release
}

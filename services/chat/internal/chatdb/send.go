package chatdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/services/chat/internal/chat"
)

// sendSQL is the whole state change of a group of sends, and their events, in one statement. Each
// send is a row of r, from arrays in the order the sends arrived (ord):
//
//   - chat: the chats of the group, as they are now (the group holds their locks, lockChatsSQL);
//   - dup: a send's message with its client_msg_id, if the sender stored one (idempotency);
//   - ok: the sends to store — the sender takes part in the chat, may send there, and the
//     message is new — numbered within their chat in arrival order (n);
//   - bump: takes each of those chats' row lock and as many seqs as it has sends (last_seq +
//     total), and the time, which sent_at takes from it: seqs stay gap-free and strictly
//     increasing, sent_at never decreases with seq. can_send is checked again on the row as it
//     is when locked (FriendRemoved does not take the chat's advisory lock);
//   - ins: the messages, seq = the chat's old last_seq + n, with their attachments' ids (an array
//     literal each, $6) and metadata ($7);
//   - ev: their MessageSent in the outbox, in seq order within a chat, so that outbox ids follow
//     seqs. Go built each payload without the three fields only this statement knows, appended
//     here by message_sent_tail (migration 0004): the seq, the recipient and sent_at.
//
// The result has one row per send, in ord order: whether the sender takes part in the chat (no:
// NotFound), the stored seq and time, or the duplicate's columns (neither: not friends).
const sendSQL = `
WITH r AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[],
                         $8::uuid[], $9::timestamptz[], $10::bytea[], $11::text[])
        WITH ORDINALITY AS r(chat_id, sender_id, client_msg_id, message_id, text, attachment_ids, attachments,
                             event_id, ce_time, payload, headers, ord)
), chat AS (
    SELECT chat_id, user_lo, user_hi, can_send FROM chats WHERE chat_id = ANY($1::uuid[])
), dup AS (
    SELECT r.ord, m.* FROM r CROSS JOIN LATERAL (
        SELECT message_id, seq, text, attachment_ids, attachments, sent_at, edited_at, deleted_at FROM messages
        WHERE chat_id = r.chat_id AND sender_id = r.sender_id AND client_msg_id = r.client_msg_id
        LIMIT 1 -- unique anyway; keeps the lookup a per-send index probe whatever the statistics say
    ) m
), ok AS (
    SELECT r.*, CASE WHEN chat.user_lo = r.sender_id THEN chat.user_hi ELSE chat.user_lo END AS recipient_id,
           row_number() OVER (PARTITION BY r.chat_id ORDER BY r.ord) AS n
    FROM r JOIN chat ON chat.chat_id = r.chat_id AND r.sender_id IN (chat.user_lo, chat.user_hi)
    WHERE chat.can_send AND NOT EXISTS (SELECT FROM dup WHERE dup.ord = r.ord)
), bump AS (
    UPDATE chats c SET last_seq = c.last_seq + k.total, last_activity_at = clock_timestamp()
    FROM (SELECT chat_id, count(*) AS total FROM ok GROUP BY chat_id) k
    WHERE c.chat_id = k.chat_id AND c.can_send
    RETURNING c.chat_id, c.last_seq - k.total AS base, c.last_activity_at
), ins AS (
    INSERT INTO messages (chat_id, seq, message_id, sender_id, client_msg_id, text, attachment_ids, attachments, sent_at)
    SELECT ok.chat_id, bump.base + ok.n, ok.message_id, ok.sender_id, ok.client_msg_id, ok.text,
           ok.attachment_ids::uuid[], ok.attachments::jsonb, bump.last_activity_at
    FROM ok JOIN bump ON bump.chat_id = ok.chat_id
    RETURNING message_id, seq, sent_at
), ev AS (
    INSERT INTO outbox (` + events.OutboxColumns + `)
    SELECT ok.event_id, $12, ok.chat_id::text, $13, $14, ok.ce_time,
           ok.payload || message_sent_tail(ins.seq, ok.recipient_id, ins.sent_at), ok.headers::jsonb
    FROM ok JOIN ins ON ins.message_id = ok.message_id
    ORDER BY ok.chat_id, ins.seq
)
SELECT r.ord, chat.chat_id IS NOT NULL, ins.seq, ins.sent_at,
       dup.message_id::text, dup.seq, dup.text, dup.attachment_ids::text[], dup.attachments, dup.sent_at, dup.edited_at, dup.deleted_at
FROM r LEFT JOIN chat ON chat.chat_id = r.chat_id AND r.sender_id IN (chat.user_lo, chat.user_hi)
LEFT JOIN ins ON ins.message_id = r.message_id
LEFT JOIN dup ON dup.ord = r.ord
ORDER BY r.ord`

// planSQL fixes how Postgres plans sendSQL, for the transaction. Every table access in sendSQL is
// a lookup by key, but Postgres plans for the table sizes it sees when it plans, and pgx's
// prepared statement keeps a plan: planned while chats or messages were small, it scanned them
// whole and kept doing so as they grew. And by default a statement is planned anew for its
// parameters until a plan for any parameters looks no dearer, which for a group of one it never
// did: a lone send paid a full planning of sendSQL, more than running it costs.
const planSQL = `SELECT set_config('enable_seqscan', 'off', true), set_config('plan_cache_mode', 'force_generic_plan', true)`

// lockChatsSQL takes the locks of a group's chats (lockChatSQL's), keys sorted and distinct, so
// that two groups never wait for each other in a cycle.
const lockChatsSQL = `SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::int4[]) AS k`

// Sends commit in groups (group commit). A send joins the queue; when fewer than maxRunningGroups
// groups are being written, the sender takes the queue and writes it as one group in one
// transaction, and one round trip: BEGIN, the chats' locks, sendSQL, COMMIT. While a group is
// written the next one gathers, so under load a group carries as many sends as arrived during a
// round trip — the database pays one transaction, one statement and one commit for all of them
// instead of one each — and a lone send is written at once, never held back to wait for company.
// When a group is written, the first send queued behind it writes the next group (no goroutine
// of its own). A group that fails as a whole — a send whose client_msg_id a concurrent group
// stored first, a value the database refuses — is written again once, then each send on its own,
// so one send's failure is never another's.
const (
	// maxGroup bounds the sends in one group, and so one statement's size.
	maxGroup = 64
	// maxRunningGroups is how many groups are written at a time: more than one keeps both the
	// database and this process busy (one group is on the wire while the next is built), and
	// with synchronous_commit=on lets commits share WAL flushes.
	maxRunningGroups = 2
	// groupTimeout bounds writing one group: it runs on its own, whatever becomes of the request
	// that happened to write it.
	groupTimeout = 30 * time.Second
)

// sendCall is one send waiting in the queue or in a group.
type sendCall struct {
	ctx  context.Context
	m    chat.NewMessage
	row  events.OutboxRow
	ids  []string
	meta []storedAttachment
	// wake receives once when the result is in, and once before that when this call is to write
	// the group in lead.
	wake chan struct{}
	lead []*sendCall

	msg chat.Message
	dup bool
	err error
}

// sendQueue is the store's queue of sends.
type sendQueue struct {
	mu      sync.Mutex
	waiting []*sendCall
	running int // groups being written
}

// Send implements chat.Store: it stores m in a group with the sends that arrive with it.
func (s *Store) Send(ctx context.Context, m chat.NewMessage) (chat.Message, bool, error) {
	ids, meta := storedAttachments(m.Attachments)
	// The event without seq, recipient_id and sent_at: sendSQL appends them.
	row, err := s.pub.Row(ctx, topics.Chat, m.ChatID, &eventsv1.MessageSent{
		ChatId: m.ChatID, MessageId: m.ID, SenderId: m.SenderID, Text: m.Text, ClientMsgId: m.ClientMsgID,
		Attachments: eventAttachments(attachmentsOf(ids, meta)),
	})
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("send message: %w", err)
	}
	c := &sendCall{ctx: ctx, m: m, row: row, ids: ids, meta: meta, wake: make(chan struct{}, 1)}

	q := &s.sends
	q.mu.Lock()
	q.waiting = append(q.waiting, c)
	var group []*sendCall
	if q.running < maxRunningGroups {
		q.running++
		group = q.takeLocked()
	}
	q.mu.Unlock()
	if group != nil {
		s.writeGroups(group)
	}

	done := ctx.Done()
	for {
		select {
		case <-c.wake:
		case <-done:
			q.mu.Lock()
			i := slices.Index(q.waiting, c)
			if i >= 0 {
				q.waiting = slices.Delete(q.waiting, i, i+1)
			}
			q.mu.Unlock()
			if i >= 0 {
				return chat.Message{}, false, fmt.Errorf("send message: %w", ctx.Err())
			}
			// Already in a group, which is written whatever this request does; wait for it.
			done = nil
			continue
		}
		if c.lead != nil {
			group, c.lead = c.lead, nil
			s.writeGroups(group)
			continue
		}
		return c.msg, c.dup, c.err
	}
}

// takeLocked takes the next group off the queue: up to maxGroup sends, in arrival order, leaving
// behind a send whose (chat, sender, client_msg_id) is already in the group for the group after.
func (q *sendQueue) takeLocked() []*sendCall {
	group := make([]*sendCall, 0, min(len(q.waiting), maxGroup))
	var keys map[string]bool
	rest := q.waiting[:0]
	for _, c := range q.waiting {
		if len(group) == maxGroup {
			rest = append(rest, c)
			continue
		}
		if len(q.waiting) > 1 {
			if keys == nil {
				keys = make(map[string]bool, len(q.waiting))
			}
			k := strings.ToLower(c.m.ChatID + c.m.SenderID + c.m.ClientMsgID)
			if keys[k] {
				rest = append(rest, c)
				continue
			}
			keys[k] = true
		}
		group = append(group, c)
	}
	clear(q.waiting[len(rest):])
	q.waiting = rest
	return group
}

// writeGroups writes group, then hands the queue over.
func (s *Store) writeGroups(group []*sendCall) {
	defer s.handOff() // even after a panic: the sends queued behind must not wait for ever
	s.writeGroup(group)
}

// handOff ends a writer's turn: the sends that queued meanwhile become the next group, written by
// the first of them, or, when none did, one group fewer is being written.
func (s *Store) handOff() {
	q := &s.sends
	q.mu.Lock()
	var next []*sendCall
	if len(q.waiting) > 0 {
		next = q.takeLocked()
	} else {
		q.running--
	}
	q.mu.Unlock()
	if next != nil {
		next[0].lead = next
		next[0].wake <- struct{}{}
	}
}

// writeGroup stores group and gives each send its result.
func (s *Store) writeGroup(group []*sendCall) {
	answered := false
	defer func() {
		if !answered { // a panic on the way, passing up through the writer's own request
			for _, c := range group {
				c.msg, c.dup, c.err = chat.Message{}, false, errGroupAbandoned
				c.wake <- struct{}{}
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(group[0].ctx), groupTimeout)
	defer cancel()
	if err := s.sendGroupRetried(ctx, group); err != nil {
		for _, c := range group {
			if len(group) > 1 {
				err = s.sendGroupRetried(ctx, []*sendCall{c})
			}
			if err != nil {
				c.msg, c.dup, c.err = chat.Message{}, false, err
			}
		}
	}
	stored := false
	for _, c := range group {
		stored = stored || (c.err == nil && !c.dup)
	}
	if stored {
		s.pub.Wake()
	}
	answered = true
	for _, c := range group {
		c.wake <- struct{}{}
	}
}

// errGroupAbandoned answers the sends of a group whose writer panicked. Whether they were stored
// is unknown to them; a retry with the same client_msg_id finds out.
var errGroupAbandoned = errors.New("send message: the group it was written in failed unexpectedly; retry with the same client_msg_id")

// sendGroupRetried is sendGroup, again once when a concurrent group stored one of these
// client_msg_ids first (the group waited for it and failed on the unique key; now dup finds it).
func (s *Store) sendGroupRetried(ctx context.Context, group []*sendCall) error {
	err := s.sendGroup(ctx, group)
	if pg.IsUniqueViolation(err, "messages_chat_id_sender_id_client_msg_id_key") {
		err = s.sendGroup(ctx, group)
	}
	return err
}

// sendGroup writes group in one transaction and sets each send's message, dup and err (its own
// outcome: ErrChatNotFound, ErrNotFriends). An error is the group's: nothing was stored.
func (s *Store) sendGroup(ctx context.Context, group []*sendCall) error {
	for _, c := range group {
		c.msg, c.dup, c.err = chat.Message{}, false, nil
	}
	n := len(group)
	// UUIDs go as pgtype.UUID: pgx encodes them in binary at once, where strings made it try
	// (and fail, with an error built each time) several plans before falling back to text.
	var (
		chatIDs, senderIDs, clientMsgIDs = make([]pgtype.UUID, n), make([]pgtype.UUID, n), make([]pgtype.UUID, n)
		messageIDs, eventIDs             = make([]pgtype.UUID, n), make([]pgtype.UUID, n)
		texts, attachmentIDs             = make([]string, n), make([]string, n)
		attachments, headers             = make([]string, n), make([]string, n)
		times                            = make([]time.Time, n)
		payloads                         = make([][]byte, n)
		keys                             = make([]int32, 0, n)
	)
	for i, c := range group {
		m := c.m
		for _, id := range []struct {
			to   *pgtype.UUID
			from string
		}{{&chatIDs[i], m.ChatID}, {&senderIDs[i], m.SenderID}, {&clientMsgIDs[i], m.ClientMsgID}, {&messageIDs[i], m.ID}} {
			u, err := uuid.Parse(id.from)
			if err != nil {
				return fmt.Errorf("send message %s: %q: %w", m.ID, id.from, err)
			}
			*id.to = pgtype.UUID{Bytes: u, Valid: true}
		}
		eventIDs[i] = pgtype.UUID{Bytes: c.row.EventID, Valid: true}
		texts[i] = m.Text
		attachmentIDs[i] = "{" + strings.Join(c.ids, ",") + "}"
		meta, err := json.Marshal(c.meta)
		if err != nil {
			return fmt.Errorf("send message: attachments of %s: %w", m.ID, err)
		}
		attachments[i] = string(meta)
		hdr, err := json.Marshal(c.row.Headers)
		if err != nil {
			return fmt.Errorf("send message: event headers of %s: %w", m.ID, err)
		}
		times[i], payloads[i], headers[i] = c.row.Time, c.row.Payload, string(hdr)
		keys = append(keys, chatLockKey(m.ChatID))
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	row := group[0].row

	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("send message: acquire connection: %w", err)
	}
	// Every way out but the commit ends the transaction here, even for a cancelled request.
	defer pg.Release(ctx, conn)

	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(planSQL)
	b.Queue(lockChatsSQL, chatLockClass, keys)
	b.Queue(sendSQL, chatIDs, senderIDs, clientMsgIDs, messageIDs, texts, attachmentIDs, attachments,
		eventIDs, times, payloads, headers, row.Topic, row.Type, row.Source)
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	for range 3 { // BEGIN, planSQL, the locks
		if err == nil {
			_, err = br.Exec()
		}
	}
	if err == nil {
		err = scanGroup(br, group)
	}
	// The commit comes after the statement whatever it found: a duplicate, a refused send or an
	// unknown chat wrote nothing, so committing it costs nothing more than a rollback would.
	if err == nil {
		if tag, cerr := br.Exec(); cerr != nil {
			err = cerr
		} else if tag.String() != "COMMIT" {
			err = fmt.Errorf("commit ended with %q", tag.String())
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("send message: %w", err)
	}
	return nil
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

// scanGroup reads sendSQL's rows into group's calls.
func scanGroup(br pgx.BatchResults, group []*sendCall) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		ord         int
		participant bool
		seq         *int64
		sentAt      *time.Time
		d           nullableMessage
	)
	dest := []any{&ord, &participant, &seq, &sentAt, &d.id, &d.seq, &d.text, &d.attachmentIDs, &d.attachments, &d.sentAt, &d.editedAt, &d.deletedAt}
	seen := 0
	for rows.Next() {
		d = nullableMessage{}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if ord < 1 || ord > len(group) {
			return fmt.Errorf("send returned a row for send %d of %d", ord, len(group))
		}
		c := group[ord-1]
		m := c.m
		seen++
		switch {
		case !participant:
			c.err = chat.ErrChatNotFound
		case d.id != nil:
			d.chatID, d.senderID, d.clientMsgID = &m.ChatID, &m.SenderID, &m.ClientMsgID
			c.msg, c.dup = *d.message(), true
		case seq == nil:
			c.err = chat.ErrNotFriends
		default:
			c.msg = chat.Message{ID: m.ID, ChatID: m.ChatID, Seq: *seq, SenderID: m.SenderID, Text: m.Text,
				ClientMsgID: m.ClientMsgID, SentAt: sentAt.UTC(), Attachments: attachmentsOf(c.ids, c.meta)}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if seen != len(group) {
		return fmt.Errorf("send returned %d rows for %d sends", seen, len(group))
	}
	return nil
}

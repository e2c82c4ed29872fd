package notificationdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/services/notification/internal/notification"
)

// Message digests: the messages a user missed in a chat, mailed together once due.

func (t *txStore) AddToDigest(ctx context.Context, userID, chatID string, m notification.DigestMessage, due time.Time) error {
	var digestID string
	// The no-op update locks an existing digest and returns its id; a digest being sent by the
	// dispatcher meanwhile is waited for, and once it is deleted a new one is opened.
	err := t.queryRow(ctx, `INSERT INTO digests (digest_id, user_id, chat_id, first_message_at, due_at)
		VALUES (gen_random_uuid(), $1, $2, $3, $4)
		ON CONFLICT (user_id, chat_id) DO UPDATE SET user_id = excluded.user_id
		RETURNING digest_id::text`, userID, chatID, m.SentAt, due).Scan(&digestID)
	if err != nil {
		return fmt.Errorf("open digest: %w", err)
	}
	attachments := m.Attachments
	if attachments == nil {
		attachments = []string{}
	}
	t.later("add message to digest", `INSERT INTO digest_messages (digest_id, seq, message_id, sender_id, text, attachments, sent_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
		digestID, m.Seq, m.MessageID, m.SenderID, m.Text, attachments, m.SentAt)
	return nil
}

// lockDigest returns the id of userID's digest for chatID, locked, or "".
func (t *txStore) lockDigest(ctx context.Context, userID, chatID string) (string, error) {
	var id string
	err := t.queryRow(ctx, `SELECT digest_id::text FROM digests WHERE user_id = $1 AND chat_id = $2 FOR UPDATE`,
		userID, chatID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("lock digest: %w", err)
	}
	return id, nil
}

func (t *txStore) TrimDigest(ctx context.Context, userID, chatID string, upToSeq int64, delay time.Duration) error {
	id, err := t.lockDigest(ctx, userID, chatID)
	if err != nil || id == "" {
		return err
	}
	tag, err := t.exec(ctx, `DELETE FROM digest_messages WHERE digest_id = $1 AND seq <= $2`, id, upToSeq)
	if err != nil {
		return fmt.Errorf("trim digest: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	// What remains came after the read cursor: the digest is due delay after the first of it, but
	// never earlier than it already was.
	t.later("reschedule digest", `UPDATE digests d SET first_message_at = m.first, due_at = greatest(d.due_at, m.first + $2::interval)
		FROM (SELECT min(sent_at) AS first FROM digest_messages WHERE digest_id = $1) m
		WHERE d.digest_id = $1 AND m.first IS NOT NULL`, id, delay)
	t.deleteIfEmpty(id)
	return nil
}

func (t *txStore) deleteIfEmpty(id string) {
	t.later("delete empty digest", `DELETE FROM digests WHERE digest_id = $1
		AND NOT EXISTS (SELECT 1 FROM digest_messages WHERE digest_id = $1)`, id)
}

func (t *txStore) EditDigestMessage(_ context.Context, userID, chatID string, seq int64, text string) error {
	t.later("edit digest message", `UPDATE digest_messages SET text = $4
		WHERE digest_id = (SELECT digest_id FROM digests WHERE user_id = $1 AND chat_id = $2) AND seq = $3`,
		userID, chatID, seq, text)
	return nil
}

func (t *txStore) DropDigestMessage(ctx context.Context, userID, chatID string, seq int64) error {
	id, err := t.lockDigest(ctx, userID, chatID)
	if err != nil || id == "" {
		return err
	}
	t.later("drop digest message", `DELETE FROM digest_messages WHERE digest_id = $1 AND seq = $2`, id, seq)
	t.deleteIfEmpty(id)
	return nil
}

func (t *txStore) LockDueDigests(ctx context.Context, now time.Time, limit int) ([]notification.Digest, error) {
	rows, err := t.query(ctx, `SELECT digest_id::text, user_id::text, chat_id::text, first_message_at, due_at
		FROM digests WHERE due_at <= $1 ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("lock due digests: %w", err)
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (notification.Digest, error) {
		var d notification.Digest
		err := r.Scan(&d.ID, &d.UserID, &d.ChatID, &d.FirstMessageAt, &d.DueAt)
		d.FirstMessageAt, d.DueAt = d.FirstMessageAt.UTC(), d.DueAt.UTC()
		return d, err
	})
	if err != nil || len(ds) == 0 {
		if err != nil {
			err = fmt.Errorf("lock due digests: %w", err)
		}
		return nil, err
	}
	ids := make([]string, len(ds))
	byID := make(map[string]*notification.Digest, len(ds))
	for i := range ds {
		ids[i] = ds[i].ID
		byID[ds[i].ID] = &ds[i]
	}
	rows, err = t.query(ctx, `SELECT digest_id::text, seq, message_id::text, sender_id::text, text, attachments, sent_at
		FROM digest_messages WHERE digest_id = ANY($1::uuid[]) ORDER BY digest_id, seq`, ids)
	if err != nil {
		return nil, fmt.Errorf("load digest messages: %w", err)
	}
	var digestID string
	var m notification.DigestMessage
	_, err = pgx.ForEachRow(rows, []any{&digestID, &m.Seq, &m.MessageID, &m.SenderID, &m.Text, &m.Attachments, &m.SentAt}, func() error {
		m.SentAt = m.SentAt.UTC()
		d := byID[digestID]
		d.Messages = append(d.Messages, m)
		m = notification.DigestMessage{}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load digest messages: %w", err)
	}
	return ds, nil
}

func (t *txStore) DeleteDigest(_ context.Context, id string) error {
	t.later("delete digest "+id, `DELETE FROM digests WHERE digest_id = $1`, id)
	return nil
}

func (t *txStore) PostponeDigest(_ context.Context, id string, due time.Time) error {
	t.later("postpone digest "+id, `UPDATE digests SET due_at = $2 WHERE digest_id = $1`, id, due)
	return nil
}

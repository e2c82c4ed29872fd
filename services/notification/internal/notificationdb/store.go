// Package notificationdb keeps the notification service's state in Postgres: recipients and their
// preferences and mutes, the in-app notifications, Notify's idempotency keys, pending message
// digests, and the email delivery outbox. NotificationSent events are written to the events
// outbox in the same transaction as the notification they announce.
package notificationdb

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/services/notification/internal/notification"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Component names the service's migrations in schema_migrations.
const Component = "notification"

// Migrations are the notification service's schema migrations, for
// pg.Migrate(ctx, pool, Component, Migrations).
var Migrations = func() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}()

// Publisher writes an event to the transactional outbox inside tx (platform/events' Outbox).
type Publisher interface {
	Publish(ctx context.Context, tx pgx.Tx, topic, key string, msg proto.Message) (string, error)
}

// Store is the Postgres implementation of notification.Store.
type Store struct {
	pool *pgxpool.Pool
	pub  Publisher
}

var _ notification.Store = (*Store)(nil)

// New returns a store on pool publishing through pub.
func New(pool *pgxpool.Pool, pub Publisher) *Store { return &Store{pool: pool, pub: pub} }

// InTx implements notification.Store.
func (s *Store) InTx(ctx context.Context, fn func(notification.Tx) error) error {
	return pg.InTx(ctx, s.pool, func(tx pgx.Tx) error { return fn(s.WithTx(tx)) })
}

// WithTx returns the store inside tx: the event consumer's transaction, which also records the
// event in the inbox.
func (s *Store) WithTx(tx pgx.Tx) notification.Tx { return &txStore{tx: tx, pub: s.pub} }

// querier is what a pool and a transaction have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const notificationColumns = `notification_id::text, user_id::text, kind, title, body, subject_id, actor_user_id,
	count, created_at, read_at, coalesce(collapse_key, ''), last_seq`

func scanNotification(row pgx.Row) (notification.Notification, error) {
	var n notification.Notification
	err := row.Scan(&n.ID, &n.UserID, &n.Kind, &n.Title, &n.Body, &n.SubjectID, &n.ActorUserID,
		&n.Count, &n.CreatedAt, &n.ReadAt, &n.CollapseKey, &n.LastSeq)
	n.CreatedAt = n.CreatedAt.UTC()
	if n.ReadAt != nil {
		t := n.ReadAt.UTC()
		n.ReadAt = &t
	}
	return n, err
}

// List implements notification.Store.
func (s *Store) List(ctx context.Context, q notification.ListQuery) ([]notification.Notification, error) {
	sql := `SELECT ` + notificationColumns + ` FROM notifications WHERE user_id = $1`
	args := []any{q.UserID, q.Limit}
	if q.UnreadOnly {
		sql += ` AND read_at IS NULL`
	}
	if q.After != nil {
		sql += ` AND (created_at, notification_id) < ($3, $4)`
		args = append(args, q.After.CreatedAt, q.After.ID)
	}
	sql += ` ORDER BY created_at DESC, notification_id DESC LIMIT $2`
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	ns, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (notification.Notification, error) { return scanNotification(r) })
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	return ns, nil
}

// UnreadCount implements notification.Store.
func (s *Store) UnreadCount(ctx context.Context, userID string) (int64, error) {
	return unreadCount(ctx, s.pool, userID)
}

func unreadCount(ctx context.Context, q querier, userID string) (int64, error) {
	var n int64
	if err := q.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count unread notifications: %w", err)
	}
	return n, nil
}

// Preferences implements notification.Store.
func (s *Store) Preferences(ctx context.Context, userID string, now time.Time) (notification.Preferences, error) {
	return preferences(ctx, s.pool, userID, now)
}

func preferences(ctx context.Context, q querier, userID string, now time.Time) (notification.Preferences, error) {
	p := notification.DefaultPreferences()
	err := q.QueryRow(ctx, `SELECT email_enabled, prefs_updated_at FROM recipients WHERE user_id = $1`, userID).
		Scan(&p.EmailEnabled, &p.UpdatedAt)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("load preferences: %w", err)
	}
	if p.UpdatedAt != nil {
		t := p.UpdatedAt.UTC()
		p.UpdatedAt = &t
	}
	rows, err := q.Query(ctx, `SELECT kind, in_app, email FROM kind_preferences WHERE user_id = $1`, userID)
	if err != nil {
		return p, fmt.Errorf("load kind preferences: %w", err)
	}
	kinds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (notification.KindPreference, error) {
		var kp notification.KindPreference
		err := r.Scan(&kp.Kind, &kp.InApp, &kp.Email)
		return kp, err
	})
	if err != nil {
		return p, fmt.Errorf("load kind preferences: %w", err)
	}
	for _, kp := range kinds {
		if i := slices.IndexFunc(p.Kinds, func(d notification.KindPreference) bool { return d.Kind == kp.Kind }); i >= 0 {
			p.Kinds[i] = kp
		}
	}
	rows, err = q.Query(ctx, `SELECT chat_id::text, until FROM muted_chats
		WHERE user_id = $1 AND (until IS NULL OR until > $2) ORDER BY chat_id`, userID, now)
	if err != nil {
		return p, fmt.Errorf("load muted chats: %w", err)
	}
	p.MutedChats, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (notification.MutedChat, error) {
		var m notification.MutedChat
		err := r.Scan(&m.ChatID, &m.Until)
		if m.Until != nil {
			t := m.Until.UTC()
			m.Until = &t
		}
		return m, err
	})
	if err != nil {
		return p, fmt.Errorf("load muted chats: %w", err)
	}
	return p, nil
}

// ClaimDeliveries implements notification.Store. The claim is its own committed statement, so the
// lease is on record before any SMTP conversation starts.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]notification.Delivery, error) {
	rows, err := s.pool.Query(ctx, `
		UPDATE email_deliveries SET state = 'sending', attempts = attempts + 1, next_attempt_at = $2
		WHERE delivery_id IN (
			SELECT delivery_id FROM email_deliveries
			WHERE state IN ('pending', 'sending') AND next_attempt_at <= $1
			ORDER BY next_attempt_at
			LIMIT $3
			FOR UPDATE SKIP LOCKED)
		RETURNING delivery_id::text, dedup_key, user_id::text, kind, to_address, to_name, message_id,
			subject, text_body, html_body, created_at, attempts`,
		now, now.Add(lease), limit)
	if err != nil {
		return nil, fmt.Errorf("claim email deliveries: %w", err)
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (notification.Delivery, error) {
		var d notification.Delivery
		err := r.Scan(&d.ID, &d.DedupKey, &d.UserID, &d.Kind, &d.To, &d.ToName, &d.MessageID,
			&d.Subject, &d.Text, &d.HTML, &d.CreatedAt, &d.Attempt)
		d.CreatedAt = d.CreatedAt.UTC()
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim email deliveries: %w", err)
	}
	return ds, nil
}

// FinishDelivery implements notification.Store.
func (s *Store) FinishDelivery(ctx context.Context, d notification.Delivery, out notification.DeliveryOutcome) error {
	var err error
	switch {
	case out.Sent:
		_, err = s.pool.Exec(ctx, `UPDATE email_deliveries SET state = 'sent', sent_at = now(), last_error = ''
			WHERE delivery_id = $1 AND attempts = $2 AND state = 'sending'`, d.ID, d.Attempt)
	case out.RetryAt != nil:
		_, err = s.pool.Exec(ctx, `UPDATE email_deliveries SET state = 'pending', next_attempt_at = $3, last_error = $4
			WHERE delivery_id = $1 AND attempts = $2 AND state = 'sending'`, d.ID, d.Attempt, *out.RetryAt, out.Err)
	default:
		_, err = s.pool.Exec(ctx, `UPDATE email_deliveries SET state = 'failed', last_error = $3
			WHERE delivery_id = $1 AND attempts = $2 AND state = 'sending'`, d.ID, d.Attempt, out.Err)
	}
	if err != nil {
		return fmt.Errorf("record email delivery %s: %w", d.ID, err)
	}
	return nil
}

// Cleanup implements notification.Store, deleting in batches so it never holds many locks.
func (s *Store) Cleanup(ctx context.Context, now time.Time, r notification.Retention) (int64, error) {
	type job struct {
		what, sql string
		before    time.Time
		enabled   bool
	}
	jobs := []job{
		{"read notifications", `DELETE FROM notifications WHERE notification_id IN (
			SELECT notification_id FROM notifications WHERE read_at < $1 LIMIT 1000)`,
			now.Add(-r.ReadNotifications), r.ReadNotifications > 0},
		{"resolved friend requests", `DELETE FROM resolved_friend_requests WHERE request_id IN (
			SELECT request_id FROM resolved_friend_requests WHERE resolved_at < $1 LIMIT 1000)`,
			now.Add(-r.ReadNotifications), r.ReadNotifications > 0},
		{"notify keys", `DELETE FROM notify_requests WHERE (user_id, idempotency_key) IN (
			SELECT user_id, idempotency_key FROM notify_requests WHERE created_at < $1 LIMIT 1000)`,
			now.Add(-r.NotifyKeys), r.NotifyKeys > 0},
		{"finished email deliveries", `DELETE FROM email_deliveries WHERE delivery_id IN (
			SELECT delivery_id FROM email_deliveries WHERE state IN ('sent', 'failed') AND created_at < $1 LIMIT 1000)`,
			now.Add(-r.Deliveries), r.Deliveries > 0},
		{"expired mutes", `DELETE FROM muted_chats WHERE (user_id, chat_id) IN (
			SELECT user_id, chat_id FROM muted_chats WHERE until < $1 LIMIT 1000)`, now, true},
	}
	var total int64
	for _, j := range jobs {
		if !j.enabled {
			continue
		}
		for {
			tag, err := s.pool.Exec(ctx, j.sql, j.before)
			if err != nil {
				return total, fmt.Errorf("delete %s: %w", j.what, err)
			}
			total += tag.RowsAffected()
			if tag.RowsAffected() < 1000 {
				break
			}
		}
	}
	return total, nil
}

// txStore is notification.Tx over one pgx transaction.
type txStore struct {
	tx  pgx.Tx
	pub Publisher
}

var _ notification.Tx = (*txStore)(nil)

func (t *txStore) LockRecipients(ctx context.Context, userIDs ...string) error {
	ids := slices.Clone(userIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if _, err := t.tx.Exec(ctx, `INSERT INTO recipients (user_id) SELECT unnest($1::uuid[]) AS id ORDER BY id
		ON CONFLICT (user_id) DO NOTHING`, ids); err != nil {
		return fmt.Errorf("create recipients: %w", err)
	}
	if _, err := t.tx.Exec(ctx, `SELECT 1 FROM recipients WHERE user_id = ANY($1::uuid[]) ORDER BY user_id FOR UPDATE`, ids); err != nil {
		return fmt.Errorf("lock recipients: %w", err)
	}
	return nil
}

func (t *txStore) Recipient(ctx context.Context, userID string) (notification.Recipient, error) {
	r := notification.Recipient{UserID: userID}
	err := t.tx.QueryRow(ctx, `SELECT email, nickname FROM recipients WHERE user_id = $1`, userID).Scan(&r.Email, &r.Nickname)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("load recipient %s: %w", userID, err)
	}
	return r, nil
}

func (t *txStore) SaveRegistration(ctx context.Context, r notification.Recipient) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO recipients (user_id, email, nickname) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET email = excluded.email,
			nickname = CASE WHEN recipients.profile_version = 0 THEN excluded.nickname ELSE recipients.nickname END`,
		r.UserID, r.Email, r.Nickname)
	if err != nil {
		return fmt.Errorf("save registration of %s: %w", r.UserID, err)
	}
	return nil
}

func (t *txStore) SaveNickname(ctx context.Context, userID, nickname string, version int64) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO recipients (user_id, nickname, profile_version) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET nickname = excluded.nickname, profile_version = excluded.profile_version
		WHERE recipients.profile_version < excluded.profile_version`, userID, nickname, version)
	if err != nil {
		return fmt.Errorf("save nickname of %s: %w", userID, err)
	}
	return nil
}

func (t *txStore) Preferences(ctx context.Context, userID string, now time.Time) (notification.Preferences, error) {
	return preferences(ctx, t.tx, userID, now)
}

func (t *txStore) UpdatePreferences(ctx context.Context, userID string, c notification.PreferenceChanges, now time.Time) error {
	if _, err := t.tx.Exec(ctx, `UPDATE recipients SET email_enabled = coalesce($2, email_enabled), prefs_updated_at = $3
		WHERE user_id = $1`, userID, c.EmailEnabled, now); err != nil {
		return fmt.Errorf("update preferences: %w", err)
	}
	for _, kp := range c.Kinds {
		if _, err := t.tx.Exec(ctx, `INSERT INTO kind_preferences (user_id, kind, in_app, email) VALUES ($1, $2, $3, $4)
			ON CONFLICT (user_id, kind) DO UPDATE SET in_app = excluded.in_app, email = excluded.email`,
			userID, kp.Kind, kp.InApp, kp.Email); err != nil {
			return fmt.Errorf("update preference for %s: %w", kp.Kind.Name(), err)
		}
	}
	return nil
}

func (t *txStore) Mute(ctx context.Context, userID string, m notification.MutedChat) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO muted_chats (user_id, chat_id, until) VALUES ($1, $2, $3)
		ON CONFLICT (user_id, chat_id) DO UPDATE SET until = excluded.until`, userID, m.ChatID, m.Until)
	if err != nil {
		return fmt.Errorf("mute chat %s: %w", m.ChatID, err)
	}
	return nil
}

func (t *txStore) Unmute(ctx context.Context, userID, chatID string) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM muted_chats WHERE user_id = $1 AND chat_id = $2`, userID, chatID); err != nil {
		return fmt.Errorf("unmute chat %s: %w", chatID, err)
	}
	return nil
}

func (t *txStore) IsMuted(ctx context.Context, userID, chatID string, now time.Time) (bool, error) {
	var muted bool
	err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM muted_chats
		WHERE user_id = $1 AND chat_id = $2 AND (until IS NULL OR until > $3))`, userID, chatID, now).Scan(&muted)
	if err != nil {
		return false, fmt.Errorf("look up mute of chat %s: %w", chatID, err)
	}
	return muted, nil
}

func (t *txStore) UnreadByCollapseKey(ctx context.Context, userID, key string) (*notification.Notification, error) {
	n, err := scanNotification(t.tx.QueryRow(ctx, `SELECT `+notificationColumns+` FROM notifications
		WHERE user_id = $1 AND collapse_key = $2 AND read_at IS NULL`, userID, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load unread notification %s: %w", key, err)
	}
	return &n, nil
}

func (t *txStore) DeleteNotification(ctx context.Context, id string) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM notifications WHERE notification_id = $1`, id); err != nil {
		return fmt.Errorf("delete notification %s: %w", id, err)
	}
	return nil
}

func (t *txStore) InsertNotification(ctx context.Context, n notification.Notification) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO notifications (notification_id, user_id, kind, title, body, subject_id,
			actor_user_id, count, collapse_key, last_seq, created_at, read_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''), $10, $11, $12)`,
		n.ID, n.UserID, n.Kind, n.Title, n.Body, n.SubjectID, n.ActorUserID, n.Count, n.CollapseKey, n.LastSeq, n.CreatedAt, n.ReadAt)
	if err != nil {
		return fmt.Errorf("insert notification: %w", err)
	}
	return nil
}

func (t *txStore) Notification(ctx context.Context, userID, id string) (*notification.Notification, error) {
	n, err := scanNotification(t.tx.QueryRow(ctx, `SELECT `+notificationColumns+` FROM notifications
		WHERE user_id = $1 AND notification_id = $2`, userID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load notification %s: %w", id, err)
	}
	return &n, nil
}

func (t *txStore) MarkRead(ctx context.Context, userID string, ids []string, now time.Time) error {
	var err error
	if ids == nil {
		_, err = t.tx.Exec(ctx, `UPDATE notifications SET read_at = $2
			WHERE user_id = $1 AND read_at IS NULL AND created_at <= $2`, userID, now)
	} else {
		_, err = t.tx.Exec(ctx, `UPDATE notifications SET read_at = $3
			WHERE user_id = $1 AND read_at IS NULL AND notification_id = ANY($2::uuid[])`, userID, ids, now)
	}
	if err != nil {
		return fmt.Errorf("mark notifications read: %w", err)
	}
	return nil
}

func (t *txStore) MarkCollapsedRead(ctx context.Context, userID, key string, upToSeq int64, now time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE notifications SET read_at = $4
		WHERE user_id = $1 AND collapse_key = $2 AND read_at IS NULL AND last_seq <= $3`, userID, key, upToSeq, now)
	if err != nil {
		return fmt.Errorf("mark %s read: %w", key, err)
	}
	return nil
}

func (t *txStore) MarkSubjectRead(ctx context.Context, userID string, kind notification.Kind, subjectID string, now time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE notifications SET read_at = $4
		WHERE user_id = $1 AND kind = $2 AND subject_id = $3 AND read_at IS NULL`, userID, kind, subjectID, now)
	if err != nil {
		return fmt.Errorf("mark %s notifications about %s read: %w", kind.Name(), subjectID, err)
	}
	return nil
}

func (t *txStore) ResolveFriendRequest(ctx context.Context, requestID string, now time.Time) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO resolved_friend_requests (request_id, resolved_at) VALUES ($1, $2)
		ON CONFLICT (request_id) DO NOTHING`, requestID, now)
	if err != nil {
		return fmt.Errorf("record friend request %s resolved: %w", requestID, err)
	}
	return nil
}

func (t *txStore) FriendRequestResolved(ctx context.Context, requestID string) (bool, error) {
	var resolved bool
	err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM resolved_friend_requests WHERE request_id = $1)`, requestID).Scan(&resolved)
	if err != nil {
		return false, fmt.Errorf("read whether friend request %s is resolved: %w", requestID, err)
	}
	return resolved, nil
}

func (t *txStore) UnreadCount(ctx context.Context, userID string) (int64, error) {
	return unreadCount(ctx, t.tx, userID)
}

func (t *txStore) PublishSent(ctx context.Context, n notification.Notification, unread int64) error {
	ev := &eventsv1.NotificationSent{
		NotificationId: n.ID,
		UserId:         n.UserID,
		Kind:           n.Kind.Name(),
		Title:          n.Title,
		Body:           n.Body,
		UnreadCount:    unread,
		CreatedAt:      timestamppb.New(n.CreatedAt),
		SubjectId:      n.SubjectID,
	}
	if _, err := t.pub.Publish(ctx, t.tx, topics.Notification, n.UserID, ev); err != nil {
		return fmt.Errorf("publish NotificationSent: %w", err)
	}
	return nil
}

func (t *txStore) NotifyResult(ctx context.Context, userID, key string) (notification.StoredNotify, bool, error) {
	var res notification.StoredNotify
	err := t.tx.QueryRow(ctx, `SELECT coalesce(notification_id::text, ''), email_queued FROM notify_requests
		WHERE user_id = $1 AND idempotency_key = $2`, userID, key).Scan(&res.NotificationID, &res.EmailQueued)
	if errors.Is(err, pgx.ErrNoRows) {
		return res, false, nil
	}
	if err != nil {
		return res, false, fmt.Errorf("look up idempotency key: %w", err)
	}
	return res, true, nil
}

func (t *txStore) SaveNotifyResult(ctx context.Context, userID, key string, res notification.StoredNotify, now time.Time) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO notify_requests (user_id, idempotency_key, notification_id, email_queued, created_at)
		VALUES ($1, $2, nullif($3, '')::uuid, $4, $5)`, userID, key, res.NotificationID, res.EmailQueued, now)
	if err != nil {
		return fmt.Errorf("save idempotency key: %w", err)
	}
	return nil
}

func (t *txStore) QueueEmail(ctx context.Context, e notification.Email) (bool, error) {
	tag, err := t.tx.Exec(ctx, `INSERT INTO email_deliveries (delivery_id, dedup_key, user_id, kind, to_address, to_name,
			message_id, subject, text_body, html_body, next_attempt_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
		ON CONFLICT (dedup_key) DO NOTHING`,
		e.ID, e.DedupKey, e.UserID, e.Kind, e.To, e.ToName, e.MessageID, e.Subject, e.Text, e.HTML, e.CreatedAt)
	if err != nil {
		return false, fmt.Errorf("queue email %s: %w", e.DedupKey, err)
	}
	return tag.RowsAffected() == 1, nil
}

func (t *txStore) AddToDigest(ctx context.Context, userID, chatID string, m notification.DigestMessage, due time.Time) error {
	var digestID string
	// The no-op update locks an existing digest and returns its id; a digest being sent by the
	// dispatcher meanwhile is waited for, and once it is deleted a new one is opened.
	err := t.tx.QueryRow(ctx, `INSERT INTO digests (digest_id, user_id, chat_id, first_message_at, due_at)
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
	_, err = t.tx.Exec(ctx, `INSERT INTO digest_messages (digest_id, seq, message_id, sender_id, text, attachments, sent_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
		digestID, m.Seq, m.MessageID, m.SenderID, m.Text, attachments, m.SentAt)
	if err != nil {
		return fmt.Errorf("add message to digest: %w", err)
	}
	return nil
}

// lockDigest returns the id of userID's digest for chatID, locked, or "".
func (t *txStore) lockDigest(ctx context.Context, userID, chatID string) (string, error) {
	var id string
	err := t.tx.QueryRow(ctx, `SELECT digest_id::text FROM digests WHERE user_id = $1 AND chat_id = $2 FOR UPDATE`,
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
	tag, err := t.tx.Exec(ctx, `DELETE FROM digest_messages WHERE digest_id = $1 AND seq <= $2`, id, upToSeq)
	if err != nil {
		return fmt.Errorf("trim digest: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	// What remains came after the read cursor: the digest is due delay after the first of it, but
	// never earlier than it already was.
	_, err = t.tx.Exec(ctx, `UPDATE digests d SET first_message_at = m.first, due_at = greatest(d.due_at, m.first + $2::interval)
		FROM (SELECT min(sent_at) AS first FROM digest_messages WHERE digest_id = $1) m
		WHERE d.digest_id = $1 AND m.first IS NOT NULL`, id, delay)
	if err != nil {
		return fmt.Errorf("reschedule digest: %w", err)
	}
	return t.deleteIfEmpty(ctx, id)
}

func (t *txStore) deleteIfEmpty(ctx context.Context, id string) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM digests WHERE digest_id = $1
		AND NOT EXISTS (SELECT 1 FROM digest_messages WHERE digest_id = $1)`, id)
	if err != nil {
		return fmt.Errorf("delete empty digest: %w", err)
	}
	return nil
}

func (t *txStore) EditDigestMessage(ctx context.Context, userID, chatID string, seq int64, text string) error {
	_, err := t.tx.Exec(ctx, `UPDATE digest_messages SET text = $4
		WHERE digest_id = (SELECT digest_id FROM digests WHERE user_id = $1 AND chat_id = $2) AND seq = $3`,
		userID, chatID, seq, text)
	if err != nil {
		return fmt.Errorf("edit digest message: %w", err)
	}
	return nil
}

func (t *txStore) DropDigestMessage(ctx context.Context, userID, chatID string, seq int64) error {
	id, err := t.lockDigest(ctx, userID, chatID)
	if err != nil || id == "" {
		return err
	}
	if _, err := t.tx.Exec(ctx, `DELETE FROM digest_messages WHERE digest_id = $1 AND seq = $2`, id, seq); err != nil {
		return fmt.Errorf("drop digest message: %w", err)
	}
	return t.deleteIfEmpty(ctx, id)
}

func (t *txStore) LockDueDigests(ctx context.Context, now time.Time, limit int) ([]notification.Digest, error) {
	rows, err := t.tx.Query(ctx, `SELECT digest_id::text, user_id::text, chat_id::text, first_message_at, due_at
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
	rows, err = t.tx.Query(ctx, `SELECT digest_id::text, seq, message_id::text, sender_id::text, text, attachments, sent_at
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

func (t *txStore) DeleteDigest(ctx context.Context, id string) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM digests WHERE digest_id = $1`, id); err != nil {
		return fmt.Errorf("delete digest %s: %w", id, err)
	}
	return nil
}

func (t *txStore) PostponeDigest(ctx context.Context, id string, due time.Time) error {
	if _, err := t.tx.Exec(ctx, `UPDATE digests SET due_at = $2 WHERE digest_id = $1`, id, due); err != nil {
		return fmt.Errorf("postpone digest %s: %w", id, err)
	}
	return nil
}

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
	"github.com/parleyhq/parley/platform/events"
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
	Publish(ctx context.Context, tx events.Execer, topic, key string, msg proto.Message) (string, error)
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
	return pg.InTx(ctx, s.pool, func(tx pgx.Tx) error { return s.WithTx(ctx, tx, fn) })
}

// WithTx runs fn with the store inside tx — the event consumer's transaction, which also records
// the event in the inbox — and makes sure the writes fn left queued are sent before tx commits.
// It does not commit.
//
// In a consumer's transaction (events.ScopeOf), which may handle a whole batch of events, every
// event's fn gets the same store, which sends its queued writes just before the commit and, across
// the batch, takes each user's lock once, answers MessageContext again from memory (kept current
// with what the batch stored), and never sends a notification inserted and replaced within the
// batch: several messages of one chat in one batch cost one read and one replacement, not one of
// each per message. Elsewhere (InTx) the writes are sent when fn returns.
func (s *Store) WithTx(ctx context.Context, tx pgx.Tx, fn func(notification.Tx) error) error {
	scope := events.ScopeOf(ctx)
	if scope == nil {
		t := &txStore{tx: tx, pub: s.pub}
		if err := fn(t); err != nil {
			return err
		}
		return t.flush(ctx)
	}
	t, _ := scope.Value(txStoreKey{}).(*txStore)
	if t == nil || t.tx != tx {
		t = &txStore{tx: tx, pub: s.pub, locked: map[string]bool{},
			contexts: map[contextKey]notification.MessageContext{}, inserted: map[string]*queuedWrite{}}
		scope.SetValue(txStoreKey{}, t)
		scope.BeforeCommit(t.flush)
	}
	return fn(t)
}

type txStoreKey struct{}

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
	return unreadCount(ctx, s.pool.QueryRow, userID)
}

// queryRowFunc is QueryRow of a pool, a transaction or a txStore (which sends queued writes first).
type queryRowFunc func(ctx context.Context, sql string, args ...any) pgx.Row

func unreadCount(ctx context.Context, queryRow queryRowFunc, userID string) (int64, error) {
	var n int64
	if err := queryRow(ctx, `SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count unread notifications: %w", err)
	}
	return n, nil
}

// Preferences implements notification.Store.
func (s *Store) Preferences(ctx context.Context, userID string, now time.Time) (notification.Preferences, error) {
	return preferences(ctx, s.pool.QueryRow, userID, now)
}

// preferencesFrom is the part of a statement that reads a user's preferences: the master switch
// (NULL for a user never seen), the kinds set (as parallel arrays, in kind order) and the mutes
// in force at $2, for the user u.user_id, with their recipients row as r.
const preferencesFrom = `
FROM (SELECT $1::uuid AS user_id) u
LEFT JOIN recipients r ON r.user_id = u.user_id
LEFT JOIN LATERAL (
    SELECT array_agg(kind ORDER BY kind) AS kinds, array_agg(in_app ORDER BY kind) AS in_app, array_agg(email ORDER BY kind) AS email
    FROM kind_preferences WHERE user_id = u.user_id) k ON true
LEFT JOIN LATERAL (
    SELECT array_agg(chat_id::text ORDER BY chat_id) AS chats, array_agg(until ORDER BY chat_id) AS untils
    FROM muted_chats WHERE user_id = u.user_id AND (until IS NULL OR until > $2)) m ON true`

const preferencesColumns = `r.email_enabled, r.prefs_updated_at,
       coalesce(k.kinds, '{}'), coalesce(k.in_app, '{}'), coalesce(k.email, '{}'),
       coalesce(m.chats, '{}'), coalesce(m.untils, '{}')`

// scannedPreferences receives preferencesColumns.
type scannedPreferences struct {
	emailEnabled *bool
	updatedAt    *time.Time
	kinds        []int32
	inApp, email []bool
	chats        []string
	untils       []*time.Time
}

func (sp *scannedPreferences) dest() []any {
	return []any{&sp.emailEnabled, &sp.updatedAt, &sp.kinds, &sp.inApp, &sp.email, &sp.chats, &sp.untils}
}

func (sp *scannedPreferences) preferences() notification.Preferences {
	p := notification.DefaultPreferences()
	if sp.emailEnabled != nil {
		p.EmailEnabled = *sp.emailEnabled
	}
	if sp.updatedAt != nil {
		t := sp.updatedAt.UTC()
		p.UpdatedAt = &t
	}
	for i, k := range sp.kinds {
		kp := notification.KindPreference{Kind: notification.Kind(k), InApp: sp.inApp[i], Email: sp.email[i]}
		if j := slices.IndexFunc(p.Kinds, func(d notification.KindPreference) bool { return d.Kind == kp.Kind }); j >= 0 {
			p.Kinds[j] = kp
		}
	}
	for i, c := range sp.chats {
		m := notification.MutedChat{ChatID: c}
		if sp.untils[i] != nil {
			t := sp.untils[i].UTC()
			m.Until = &t
		}
		p.MutedChats = append(p.MutedChats, m)
	}
	return p
}

// preferences reads a user's preferences in one statement.
func preferences(ctx context.Context, queryRow queryRowFunc, userID string, now time.Time) (notification.Preferences, error) {
	var sp scannedPreferences
	if err := queryRow(ctx, `SELECT `+preferencesColumns+preferencesFrom, userID, now).Scan(sp.dest()...); err != nil {
		return notification.DefaultPreferences(), fmt.Errorf("load preferences: %w", err)
	}
	return sp.preferences(), nil
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

// recipientLockClass is the first key of the per-user advisory locks (LockRecipients), apart from
// other advisory locks on the database.
const recipientLockClass int32 = 7_301_085

// txStore is notification.Tx over one pgx transaction.
//
// Writes whose outcome nobody reads (inserts, deletes, locks, events) are not sent at once: they
// are queued and travel with the next statement that returns something, or with the flush before
// the commit, in one round trip (a pgx batch, pipelined). A use case that writes three things and
// reads one costs one round trip instead of four; the statements still run in the order they were
// issued, inside the same transaction, so what a read sees and what commits are unchanged. A
// queued write that fails makes the read (or the flush) that carried it fail with its error, and
// the transaction rolls back as it would have.
type txStore struct {
	tx  pgx.Tx
	pub Publisher

	queue []*queuedWrite // writes not sent yet, in order

	// Within one consumer transaction (several events, events.Scope) the store also remembers:
	locked   map[string]bool                            // users whose lock this transaction holds
	contexts map[contextKey]notification.MessageContext // MessageContext answers, kept current
	inserted map[string]*queuedWrite                    // notification id → its insert, not sent yet
}

// queuedWrite is a write not sent yet; a dropped one is never sent (a notification inserted and
// replaced within the same transaction). A write with an owner changes only that user's
// notifications: it may stay queued while a statement about someone else goes out (see send).
type queuedWrite struct {
	what    string
	sql     string
	args    []any
	owner   string
	dropped bool
}

type contextKey struct{ recipient, sender, collapseKey string }

var _ notification.Tx = (*txStore)(nil)

// later queues a write whose outcome nobody reads.
func (t *txStore) later(what, sql string, args ...any) { t.laterFor("", what, sql, args...) }

// laterFor queues a write that changes only owner's notifications.
func (t *txStore) laterFor(owner, what, sql string, args ...any) *queuedWrite {
	w := &queuedWrite{what: what, sql: sql, args: args, owner: owner}
	t.queue = append(t.queue, w)
	return w
}

// The statements a read needs sent before it: everything (sendAll); everything but what changes
// notifications (notNotifications: the read does not look at any); everything but other users'
// notification changes (about(user)).
func sendAll(*queuedWrite) bool            { return false }
func notNotifications(w *queuedWrite) bool { return w.owner != "" }
func about(user string) func(*queuedWrite) bool {
	return func(w *queuedWrite) bool { return w.owner != "" && w.owner != user }
}

// forget drops what the transaction remembers of answers, after a write that may change them.
func (t *txStore) forget() {
	clear(t.contexts)
}

// Exec queues sql like later, for Outbox.Publish (events.Execer): its insert is such a write.
func (t *txStore) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	t.later("write event", sql, args...)
	return pgconn.CommandTag{}, nil
}

// send sends the queued writes that keep does not keep back, and, when last is set, last after
// them, in one round trip. The writes kept back stay queued in their order (a user's notification
// changes are kept together, so their order among themselves holds). It returns the batch's
// results positioned at last's result (nil when there is no last), which the caller reads and
// closes.
func (t *txStore) send(ctx context.Context, keep func(*queuedWrite) bool, last func(*pgx.Batch)) (pgx.BatchResults, error) {
	queue := t.queue
	t.queue = nil
	b := &pgx.Batch{}
	var whats []string
	for _, w := range queue {
		switch {
		case w.dropped:
		case keep(w):
			t.queue = append(t.queue, w)
		default:
			if t.inserted != nil {
				delete(t.inserted, insertedID(w)) // sent: no longer droppable
			}
			b.Queue(w.sql, w.args...)
			whats = append(whats, w.what)
		}
	}
	if last != nil {
		last(b)
	}
	if b.Len() == 0 {
		return nil, nil
	}
	br := t.tx.SendBatch(ctx, b)
	for _, what := range whats {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	if last == nil {
		return nil, br.Close()
	}
	return br, nil
}

// insertedID is the notification id of a queued insert (its first argument), "" for other writes.
func insertedID(w *queuedWrite) string {
	if w.what != "insert notification" || len(w.args) == 0 {
		return ""
	}
	id, _ := w.args[0].(string)
	return id
}

// flush sends the queued writes.
func (t *txStore) flush(ctx context.Context) error {
	_, err := t.send(ctx, sendAll, nil)
	return err
}

// queryRow is QueryRow after the queued writes, in the same round trip.
func (t *txStore) queryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return t.queryRowAfter(ctx, sendAll, sql, args...)
}

// queryRowAfter is queryRow after the queued writes keep does not keep back.
func (t *txStore) queryRowAfter(ctx context.Context, keep func(*queuedWrite) bool, sql string, args ...any) pgx.Row {
	if len(t.queue) == 0 {
		return t.tx.QueryRow(ctx, sql, args...)
	}
	return pipelinedRow{t: t, ctx: ctx, keep: keep, sql: sql, args: args}
}

type pipelinedRow struct {
	t    *txStore
	ctx  context.Context
	keep func(*queuedWrite) bool
	sql  string
	args []any
}

func (r pipelinedRow) Scan(dest ...any) error {
	br, err := r.t.send(r.ctx, r.keep, func(b *pgx.Batch) { b.Queue(r.sql, r.args...) })
	if err != nil {
		return err
	}
	err = br.QueryRow().Scan(dest...)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// exec is Exec, for a write whose outcome is read, after the queued writes in the same round trip.
func (t *txStore) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if len(t.queue) == 0 {
		return t.tx.Exec(ctx, sql, args...)
	}
	br, err := t.send(ctx, sendAll, func(b *pgx.Batch) { b.Queue(sql, args...) })
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// query is Query after the queued writes (sent first, in a round trip of their own).
func (t *txStore) query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	return t.tx.Query(ctx, sql, args...)
}

func (t *txStore) LockRecipients(_ context.Context, userIDs ...string) error {
	ids := slices.DeleteFunc(slices.Clone(userIDs), func(id string) bool { return t.locked[id] })
	if len(ids) == 0 {
		return nil // held since an earlier event of this transaction
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if t.locked != nil {
		for _, id := range ids {
			t.locked[id] = true
		}
	}
	t.later("create recipients", `INSERT INTO recipients (user_id) SELECT unnest($1::uuid[]) AS id ORDER BY id
		ON CONFLICT (user_id) DO NOTHING`, ids)
	// An advisory lock per user, taken in id order (no deadlocks), rather than the rows' lock:
	// locking a row writes it (and the WAL) on every event. Queued like a write: the locks are
	// held before any statement after it runs.
	t.later("lock recipients", `SELECT pg_advisory_xact_lock($1, hashtext(id)) FROM unnest($2::text[]) AS u(id)`, recipientLockClass, ids)
	return nil
}

func (t *txStore) Recipient(ctx context.Context, userID string) (notification.Recipient, error) {
	r := notification.Recipient{UserID: userID}
	err := t.queryRowAfter(ctx, notNotifications, `SELECT email, nickname FROM recipients WHERE user_id = $1`, userID).Scan(&r.Email, &r.Nickname)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("load recipient %s: %w", userID, err)
	}
	return r, nil
}

func (t *txStore) SaveRegistration(_ context.Context, r notification.Recipient) error {
	t.forget() // may change what MessageContext answered
	t.later("save registration of "+r.UserID, `INSERT INTO recipients (user_id, email, nickname) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET email = excluded.email,
			nickname = CASE WHEN recipients.profile_version = 0 THEN excluded.nickname ELSE recipients.nickname END`,
		r.UserID, r.Email, r.Nickname)
	return nil
}

func (t *txStore) SaveNickname(_ context.Context, userID, nickname string, version int64) error {
	t.forget() // may change what MessageContext answered
	t.later("save nickname of "+userID, `INSERT INTO recipients (user_id, nickname, profile_version) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET nickname = excluded.nickname, profile_version = excluded.profile_version
		WHERE recipients.profile_version < excluded.profile_version`, userID, nickname, version)
	return nil
}

func (t *txStore) Preferences(ctx context.Context, userID string, now time.Time) (notification.Preferences, error) {
	return preferences(ctx, func(ctx context.Context, sql string, args ...any) pgx.Row {
		return t.queryRowAfter(ctx, notNotifications, sql, args...)
	}, userID, now)
}

// MessageContext implements notification.Tx: the recipient's preferences and row, the sender's
// row and the recipient's unread notification with the collapse key, in one statement.
func (t *txStore) MessageContext(ctx context.Context, recipientID, senderID, collapseKey string, now time.Time) (notification.MessageContext, error) {
	key := contextKey{recipientID, senderID, collapseKey}
	if mc, ok := t.contexts[key]; ok {
		mc.Prefs.MutedChats = slices.DeleteFunc(slices.Clone(mc.Prefs.MutedChats), func(m notification.MutedChat) bool {
			return m.Until != nil && !m.Until.After(now) // ran out since it was read
		})
		return mc, nil
	}
	mc, err := t.readMessageContext(ctx, recipientID, senderID, collapseKey, now)
	if err == nil && t.contexts != nil {
		t.contexts[key] = mc
	}
	return mc, err
}

func (t *txStore) readMessageContext(ctx context.Context, recipientID, senderID, collapseKey string, now time.Time) (notification.MessageContext, error) {
	mc := notification.MessageContext{Recipient: notification.Recipient{UserID: recipientID}, Sender: notification.Recipient{UserID: senderID}}
	var sp scannedPreferences
	var unreadID *string
	var unreadCount *int32
	var unreadSeq *int64
	err := t.queryRowAfter(ctx, about(recipientID), `SELECT `+preferencesColumns+`,
			coalesce(r.email, ''), coalesce(r.nickname, ''), coalesce(s.email, ''), coalesce(s.nickname, ''),
			n.notification_id::text, n.count, n.last_seq`+preferencesFrom+`
		LEFT JOIN recipients s ON s.user_id = $3
		LEFT JOIN notifications n ON n.user_id = u.user_id AND n.collapse_key = $4 AND n.read_at IS NULL`,
		recipientID, now, senderID, collapseKey).
		Scan(append(sp.dest(), &mc.Recipient.Email, &mc.Recipient.Nickname, &mc.Sender.Email, &mc.Sender.Nickname,
			&unreadID, &unreadCount, &unreadSeq)...)
	if err != nil {
		return mc, fmt.Errorf("load what a message notification needs: %w", err)
	}
	mc.Prefs = sp.preferences()
	if unreadID != nil {
		mc.Unread = &notification.Notification{ID: *unreadID, UserID: recipientID, Kind: notification.KindMessage,
			Count: *unreadCount, CollapseKey: collapseKey, LastSeq: *unreadSeq}
	}
	return mc, nil
}

func (t *txStore) UpdatePreferences(_ context.Context, userID string, c notification.PreferenceChanges, now time.Time) error {
	t.forget() // may change what MessageContext answered
	t.later("update preferences", `UPDATE recipients SET email_enabled = coalesce($2, email_enabled), prefs_updated_at = $3
		WHERE user_id = $1`, userID, c.EmailEnabled, now)
	for _, kp := range c.Kinds {
		t.later("update preference for "+kp.Kind.Name(), `INSERT INTO kind_preferences (user_id, kind, in_app, email) VALUES ($1, $2, $3, $4)
			ON CONFLICT (user_id, kind) DO UPDATE SET in_app = excluded.in_app, email = excluded.email`,
			userID, kp.Kind, kp.InApp, kp.Email)
	}
	return nil
}

func (t *txStore) Mute(_ context.Context, userID string, m notification.MutedChat) error {
	t.forget() // may change what MessageContext answered
	t.later("mute chat "+m.ChatID, `INSERT INTO muted_chats (user_id, chat_id, until) VALUES ($1, $2, $3)
		ON CONFLICT (user_id, chat_id) DO UPDATE SET until = excluded.until`, userID, m.ChatID, m.Until)
	return nil
}

func (t *txStore) Unmute(_ context.Context, userID, chatID string) error {
	t.forget() // may change what MessageContext answered
	t.later("unmute chat "+chatID, `DELETE FROM muted_chats WHERE user_id = $1 AND chat_id = $2`, userID, chatID)
	return nil
}

func (t *txStore) IsMuted(ctx context.Context, userID, chatID string, now time.Time) (bool, error) {
	var muted bool
	err := t.queryRowAfter(ctx, notNotifications, `SELECT EXISTS (SELECT 1 FROM muted_chats
		WHERE user_id = $1 AND chat_id = $2 AND (until IS NULL OR until > $3))`, userID, chatID, now).Scan(&muted)
	if err != nil {
		return false, fmt.Errorf("look up mute of chat %s: %w", chatID, err)
	}
	return muted, nil
}

func (t *txStore) DeleteNotification(_ context.Context, id string) error {
	owner := ""
	for k, mc := range t.contexts {
		if mc.Unread != nil && mc.Unread.ID == id {
			owner = k.recipient
			mc.Unread = nil
			t.contexts[k] = mc
		}
	}
	if w, ok := t.inserted[id]; ok {
		// Inserted by this transaction and not sent yet: neither is ever sent.
		w.dropped = true
		delete(t.inserted, id)
		return nil
	}
	t.laterFor(owner, "delete notification "+id, `DELETE FROM notifications WHERE notification_id = $1`, id)
	return nil
}

func (t *txStore) InsertNotification(_ context.Context, n notification.Notification) error {
	if n.CollapseKey != "" && n.ReadAt == nil {
		for k, mc := range t.contexts {
			if k.recipient == n.UserID && k.collapseKey == n.CollapseKey {
				mc.Unread = &notification.Notification{ID: n.ID, UserID: n.UserID, Kind: n.Kind, Count: n.Count,
					CollapseKey: n.CollapseKey, LastSeq: n.LastSeq}
				t.contexts[k] = mc
			}
		}
	}
	w := t.laterFor(n.UserID, "insert notification", `INSERT INTO notifications (notification_id, user_id, kind, title, body, subject_id,
			actor_user_id, count, collapse_key, last_seq, created_at, read_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''), $10, $11, $12)`,
		n.ID, n.UserID, n.Kind, n.Title, n.Body, n.SubjectID, n.ActorUserID, n.Count, n.CollapseKey, n.LastSeq, n.CreatedAt, n.ReadAt)
	if t.inserted != nil {
		t.inserted[n.ID] = w
	}
	return nil
}

func (t *txStore) Notification(ctx context.Context, userID, id string) (*notification.Notification, error) {
	n, err := scanNotification(t.queryRowAfter(ctx, about(userID), `SELECT `+notificationColumns+` FROM notifications
		WHERE user_id = $1 AND notification_id = $2`, userID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load notification %s: %w", id, err)
	}
	return &n, nil
}

func (t *txStore) MarkRead(_ context.Context, userID string, ids []string, now time.Time) error {
	t.forget() // may change what MessageContext answered
	if ids == nil {
		t.laterFor(userID, "mark notifications read", `UPDATE notifications SET read_at = $2
			WHERE user_id = $1 AND read_at IS NULL AND created_at <= $2`, userID, now)
		return nil
	}
	t.laterFor(userID, "mark notifications read", `UPDATE notifications SET read_at = $3
		WHERE user_id = $1 AND read_at IS NULL AND notification_id = ANY($2::uuid[])`, userID, ids, now)
	return nil
}

func (t *txStore) MarkCollapsedRead(_ context.Context, userID, key string, upToSeq int64, now time.Time) error {
	t.forget() // may change what MessageContext answered
	t.laterFor(userID, "mark "+key+" read", `UPDATE notifications SET read_at = $4
		WHERE user_id = $1 AND collapse_key = $2 AND read_at IS NULL AND last_seq <= $3`, userID, key, upToSeq, now)
	return nil
}

func (t *txStore) MarkSubjectRead(_ context.Context, userID string, kind notification.Kind, subjectID string, now time.Time) error {
	t.forget() // may change what MessageContext answered
	// Notifications that collapse (a chat's MESSAGE one) are never marked by subject; saying so
	// lets the statement use the partial index that leaves them out.
	t.laterFor(userID, "mark "+kind.Name()+" notifications about "+subjectID+" read", `UPDATE notifications SET read_at = $4
		WHERE user_id = $1 AND kind = $2 AND subject_id = $3 AND read_at IS NULL AND collapse_key IS NULL`, userID, kind, subjectID, now)
	return nil
}

func (t *txStore) ResolveFriendRequest(_ context.Context, requestID string, now time.Time) error {
	t.later("record friend request "+requestID+" resolved", `INSERT INTO resolved_friend_requests (request_id, resolved_at) VALUES ($1, $2)
		ON CONFLICT (request_id) DO NOTHING`, requestID, now)
	return nil
}

func (t *txStore) FriendRequestResolved(ctx context.Context, requestID string) (bool, error) {
	var resolved bool
	err := t.queryRowAfter(ctx, notNotifications, `SELECT EXISTS (SELECT 1 FROM resolved_friend_requests WHERE request_id = $1)`, requestID).Scan(&resolved)
	if err != nil {
		return false, fmt.Errorf("read whether friend request %s is resolved: %w", requestID, err)
	}
	return resolved, nil
}

func (t *txStore) UnreadCount(ctx context.Context, userID string) (int64, error) {
	return unreadCount(ctx, func(ctx context.Context, sql string, args ...any) pgx.Row {
		return t.queryRowAfter(ctx, about(userID), sql, args...)
	}, userID)
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
	// The outbox insert is queued like the other writes (t.Exec).
	if _, err := t.pub.Publish(ctx, t, topics.Notification, n.UserID, ev); err != nil {
		return fmt.Errorf("publish NotificationSent: %w", err)
	}
	return nil
}

func (t *txStore) NotifyResult(ctx context.Context, userID, key string) (notification.StoredNotify, bool, error) {
	var res notification.StoredNotify
	err := t.queryRow(ctx, `SELECT coalesce(notification_id::text, ''), email_queued FROM notify_requests
		WHERE user_id = $1 AND idempotency_key = $2`, userID, key).Scan(&res.NotificationID, &res.EmailQueued)
	if errors.Is(err, pgx.ErrNoRows) {
		return res, false, nil
	}
	if err != nil {
		return res, false, fmt.Errorf("look up idempotency key: %w", err)
	}
	return res, true, nil
}

func (t *txStore) SaveNotifyResult(_ context.Context, userID, key string, res notification.StoredNotify, now time.Time) error {
	t.later("save idempotency key", `INSERT INTO notify_requests (user_id, idempotency_key, notification_id, email_queued, created_at)
		VALUES ($1, $2, nullif($3, '')::uuid, $4, $5)`, userID, key, res.NotificationID, res.EmailQueued, now)
	return nil
}

func (t *txStore) QueueEmail(ctx context.Context, e notification.Email) (bool, error) {
	tag, err := t.exec(ctx, `INSERT INTO email_deliveries (delivery_id, dedup_key, user_id, kind, to_address, to_name,
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

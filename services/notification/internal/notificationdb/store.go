// Package notificationdb keeps the notification service's state in Postgres: recipients and their
// preferences and mutes, the in-app notifications, Notify's idempotency keys, pending message
// digests, and the email delivery outbox. NotificationSent events are written to the events
// outbox in the same transaction as the notification they announce.
package notificationdb

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/services/notification/internal/notification"
)

// Store is the Postgres implementation of notification.Store.
type Store struct {
	pool   *pgxpool.Pool
	outbox *events.Outbox
}

var _ notification.Store = (*Store)(nil)

// New returns a store on pool that publishes events through outbox.
func New(pool *pgxpool.Pool, outbox *events.Outbox) *Store { return &Store{pool: pool, outbox: outbox} }

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
		t := &txStore{tx: tx, outbox: s.outbox}
		if err := fn(t); err != nil {
			return err
		}
		return t.flush(ctx)
	}
	t, _ := scope.Value(txStoreKey{}).(*txStore)
	if t == nil || t.tx != tx {
		t = &txStore{tx: tx, outbox: s.outbox, locked: map[string]bool{},
			contexts: map[contextKey]notification.MessageContext{}, inserted: map[string]*queuedWrite{},
			deleted: map[string]bool{}}
		scope.SetValue(txStoreKey{}, t)
		scope.BeforeCommit(t.flush)
	}
	return fn(t)
}

type txStoreKey struct{}

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
		{"finished pushes", `DELETE FROM push_deliveries WHERE delivery_id IN (
			SELECT delivery_id FROM push_deliveries WHERE state IN ('sent', 'skipped', 'failed') AND created_at < $1 LIMIT 1000)`,
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

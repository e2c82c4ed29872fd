package notificationdb

import (
	"context"
	"fmt"
	"time"

	"github.com/parleyhq/parley/platform/pg"
)

// deletionLockClass is the first key of the per-user advisory locks that order a deletion with
// the handlers asking AnyDeleted: DeleteUser holds the user's exclusively, AnyDeleted takes it
// shared before it looks. So a handler that found the user alive stored what it stores before the
// deletion began (and the deletion erases it), or waits for the deletion and finds the tombstone.
// A class of its own: the recipient locks are exclusive only, and a shared one there would have to
// be upgraded.
const deletionLockClass int32 = 7_301_086

// DeleteUser implements notification.Tx. The queued writes go first (a notification this
// transaction inserted for or about the user is deleted too), then the locks and the deletes, in
// one round trip.
func (t *txStore) DeleteUser(ctx context.Context, userID string, at time.Time) error {
	t.later("lock deletion", `SELECT pg_advisory_xact_lock($1, hashtext($2))`, deletionLockClass, userID)
	if err := t.LockRecipients(ctx, userID); err != nil {
		return err
	}
	if err := pg.DeletedUsers.Record(ctx, queued{t, "insert tombstone"}, userID, at); err != nil {
		return err
	}
	for _, w := range []struct{ what, sql string }{
		{"delete notifications", `DELETE FROM notifications WHERE user_id = $1 OR actor_user_id = $1::text`},
		{"delete digest messages", `WITH gone AS (DELETE FROM digest_messages WHERE sender_id = $1 RETURNING digest_id)
			DELETE FROM digests d WHERE d.digest_id IN (SELECT digest_id FROM gone)
			  AND NOT EXISTS (SELECT 1 FROM digest_messages m WHERE m.digest_id = d.digest_id AND m.sender_id <> $1)`},
		{"delete digests", `DELETE FROM digests WHERE user_id = $1`},
		{"delete email deliveries", `DELETE FROM email_deliveries WHERE user_id = $1`},
		{"delete pushes", `DELETE FROM push_deliveries WHERE user_id = $1 OR actor_user_id = $1::text`},
		{"delete push subscriptions", `DELETE FROM push_subscriptions WHERE user_id = $1`},
		{"delete notify keys", `DELETE FROM notify_requests WHERE user_id = $1`},
		{"delete mutes", `DELETE FROM muted_chats WHERE user_id = $1`},
		{"delete recipient", `DELETE FROM recipients WHERE user_id = $1`},
	} {
		t.later(w.what, w.sql, userID)
	}
	if err := t.flush(ctx); err != nil {
		return fmt.Errorf("delete user %s: %w", userID, err)
	}
	t.forget()
	if t.deleted != nil {
		t.deleted[userID] = true
	}
	return nil
}

// LockDeletions implements notification.Tx.
func (t *txStore) LockDeletions(_ context.Context, userIDs ...string) {
	var ids []string
	for _, id := range userIDs {
		if _, known := t.deleted[id]; !known {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		t.later("lock deletions shared", `SELECT pg_advisory_xact_lock_shared($1, hashtext(id)) FROM unnest($2::text[]) AS u(id)`,
			deletionLockClass, ids)
	}
}

// AnyDeleted implements notification.Tx. Within a consumer's transaction the answers are kept:
// a tombstone never goes away, and one this transaction writes is recorded by DeleteUser.
func (t *txStore) AnyDeleted(ctx context.Context, userIDs ...string) (bool, error) {
	var ask []string
	for _, id := range userIDs {
		gone, known := t.deleted[id]
		if gone {
			return true, nil
		}
		if !known {
			ask = append(ask, id)
		}
	}
	if len(ask) == 0 {
		return false, nil
	}
	// A statement of its own: the look-up after it sees a deletion that committed while it waited.
	t.LockDeletions(ctx, ask...)
	var gone []string
	err := t.queryRowAfter(ctx, notNotifications,
		`SELECT coalesce(array_agg(user_id::text), '{}') FROM deleted_users WHERE user_id = ANY($1::uuid[])`, pg.UUIDs(ask)).Scan(&gone)
	if err != nil {
		return false, fmt.Errorf("look up deleted users: %w", err)
	}
	if t.deleted != nil {
		for _, id := range ask {
			t.deleted[id] = false
		}
		for _, id := range gone {
			t.deleted[id] = true
		}
	}
	return len(gone) > 0, nil
}

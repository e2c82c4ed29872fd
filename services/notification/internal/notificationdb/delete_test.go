package notificationdb_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/parleyhq/parley/platform/waittest"
	"github.com/parleyhq/parley/services/notification/internal/notification"
)

// TestNotifyRefusesADeletedUser: after UserDeleted, Notify stores nothing for the user (no
// recipients row, no notification) and says why; a user never seen is still notified.
func TestNotifyRefusesADeletedUser(t *testing.T) {
	e := newEnv(t)
	gone, other := uuid.NewString(), uuid.NewString()
	if _, err := e.svc.Notify(e.ctx, notification.NotifyRequest{UserID: gone, Kind: notification.KindSystem, Title: "before", IdempotencyKey: "1"}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.InTx(e.ctx, func(tx notification.Tx) error { return e.svc.UserDeleted(e.ctx, tx, gone, e.clock.Now()) }); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Notify(e.ctx, notification.NotifyRequest{UserID: gone, Kind: notification.KindSystem, Title: "after", IdempotencyKey: "2"})
	if !errors.Is(err, notification.ErrUserDeleted) {
		t.Fatalf("Notify after the deletion: %v, want ErrUserDeleted", err)
	}
	var rows int
	if err := e.pool.QueryRow(e.ctx, `SELECT (SELECT count(*) FROM recipients WHERE user_id = $1) + (SELECT count(*) FROM notifications WHERE user_id = $1)
		+ (SELECT count(*) FROM notify_requests WHERE user_id = $1)`, gone).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("%d rows of the deleted user (%v)", rows, err)
	}
	if _, err := e.svc.Notify(e.ctx, notification.NotifyRequest{UserID: other, Kind: notification.KindSystem, Title: "hi", IdempotencyKey: "1"}); err != nil {
		t.Fatalf("another user: %v", err)
	}
}

// waitForLockWaiters returns once n transactions on the test's database wait for a lock.
func (e *env) waitForLockWaiters(n int) {
	e.t.Helper()
	waittest.Until(e.t, fmt.Sprintf("%d transactions waiting for a lock", n), func() bool {
		var waiting int
		if err := e.pool.QueryRow(e.ctx, `SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted
			AND pid IN (SELECT pid FROM pg_stat_activity WHERE datname = current_database())`).Scan(&waiting); err != nil {
			e.t.Fatal(err)
		}
		return waiting >= n
	})
}

// TestADeletionWaitsForAHandlerAboutTheUser: a handler has asked AnyDeleted about a user (who is
// alive) and has not locked them yet when their deletion starts. The deletion waits for the
// handler, which then locks the user and commits; neither is aborted as a deadlock.
func TestADeletionWaitsForAHandlerAboutTheUser(t *testing.T) {
	e := newEnv(t)
	user := uuid.NewString()
	deleted := make(chan error, 1)
	err := e.store.InTx(e.ctx, func(tx notification.Tx) error {
		if gone, err := tx.AnyDeleted(e.ctx, user); err != nil || gone {
			return fmt.Errorf("AnyDeleted = %v, %w; want false", gone, err)
		}
		go func() {
			deleted <- e.store.InTx(e.ctx, func(tx notification.Tx) error { return e.svc.UserDeleted(e.ctx, tx, user, e.clock.Now()) })
		}()
		e.waitForLockWaiters(1) // the deletion, held off by AnyDeleted's lock
		if err := tx.LockRecipients(e.ctx, user); err != nil {
			return err
		}
		return tx.SaveEmail(e.ctx, user, "late@example.com")
	})
	if err != nil {
		t.Fatalf("the handler: %v", err)
	}
	if err := <-deleted; err != nil {
		t.Fatalf("the deletion: %v", err)
	}
	var rows int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM recipients WHERE user_id = $1`, user).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("%d recipients rows of the deleted user (%v); the deletion came after the handler", rows, err)
	}
}

// TestNotifyWaitsForADeletion: Notify about a user whose deletion is waiting (here for a handler
// that asked AnyDeleted) waits for the deletion and then refuses; neither is aborted as a deadlock.
func TestNotifyWaitsForADeletion(t *testing.T) {
	e := newEnv(t)
	user := uuid.NewString()
	deleted, notified := make(chan error, 1), make(chan error, 1)
	err := e.store.InTx(e.ctx, func(tx notification.Tx) error {
		if gone, err := tx.AnyDeleted(e.ctx, user); err != nil || gone {
			return fmt.Errorf("AnyDeleted = %v, %w; want false", gone, err)
		}
		go func() {
			deleted <- e.store.InTx(e.ctx, func(tx notification.Tx) error { return e.svc.UserDeleted(e.ctx, tx, user, e.clock.Now()) })
		}()
		e.waitForLockWaiters(1)
		go func() {
			_, err := e.svc.Notify(e.ctx, notification.NotifyRequest{UserID: user, Kind: notification.KindSystem, Title: "hi", IdempotencyKey: "1"})
			notified <- err
		}()
		e.waitForLockWaiters(2)
		return nil
	})
	if err != nil {
		t.Fatalf("the handler: %v", err)
	}
	if err := <-deleted; err != nil {
		t.Fatalf("the deletion: %v", err)
	}
	if err := <-notified; !errors.Is(err, notification.ErrUserDeleted) {
		t.Fatalf("Notify: %v, want ErrUserDeleted", err)
	}
}

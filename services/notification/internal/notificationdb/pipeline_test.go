package notificationdb_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/parleyhq/parley/services/notification/internal/notification"
)

// The store sends writes whose outcome nobody reads together with the next read (or before the
// commit). What a read sees and what commits must be as if each had been sent at once: the read
// sees the writes before it; a failing write fails the read that carried it, or the commit, and
// the transaction keeps nothing.
func TestQueuedWritesAreSeenByLaterReadsAndFailTheTransaction(t *testing.T) {
	e := newEnv(t)
	bob := e.user("bob")
	n := notification.Notification{ID: uuid.NewString(), UserID: bob, Kind: notification.KindSystem, Title: "t", Count: 1,
		CreatedAt: e.clock.Now()}

	// Seen by the read that follows.
	err := e.store.InTx(e.ctx, func(tx notification.Tx) error {
		if err := tx.InsertNotification(e.ctx, n); err != nil {
			return err
		}
		unread, err := tx.UnreadCount(e.ctx, bob)
		if err != nil || unread != 1 {
			t.Errorf("unread after a queued insert = %d, %v; want 1", unread, err)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// A failing queued write fails the read that carries it, naming the write.
	other := n
	other.ID = uuid.NewString()
	err = e.store.InTx(e.ctx, func(tx notification.Tx) error {
		_ = tx.InsertNotification(e.ctx, other)
		_ = tx.InsertNotification(e.ctx, n) // the same id again: a primary-key violation
		_, err := tx.UnreadCount(e.ctx, bob)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "insert notification") {
		t.Fatalf("a read after a failing queued write: %v; want the insert's error", err)
	}
	// … or, with no read after it, the flush before the commit.
	err = e.store.InTx(e.ctx, func(tx notification.Tx) error {
		_ = tx.InsertNotification(e.ctx, other)
		return tx.InsertNotification(e.ctx, n)
	})
	if err == nil || !strings.Contains(err.Error(), "insert notification") {
		t.Fatalf("a commit after a failing queued write: %v; want the insert's error", err)
	}
	if got := e.count(`SELECT count(*) FROM notifications WHERE user_id = $1`, bob); got != 1 {
		t.Fatalf("bob has %d notifications; want 1: the failed transactions must keep nothing", got)
	}
}

package notificationdb_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"

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

package notificationtest_test

import (
	"testing"

	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/services/notification/internal/notificationtest"
)

// NewDB holds the notification tables and platform/events' inbox and outbox, empty.
func TestNewDB(t *testing.T) {
	pool := notificationtest.NewDB(t)
	for _, table := range []string{"notifications", "inbox", "outbox"} {
		if n := pgtest.Count(t, pool, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%d rows in %s, want 0", n, table)
		}
	}
}

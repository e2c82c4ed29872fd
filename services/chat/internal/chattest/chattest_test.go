package chattest_test

import (
	"testing"

	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/services/chat/internal/chattest"
)

// NewDB holds the chat tables and platform/events' inbox and outbox, empty.
func TestNewDB(t *testing.T) {
	pool := chattest.NewDB(t)
	for _, table := range []string{"messages", "inbox", "outbox"} {
		if n := pgtest.Count(t, pool, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%d rows in %s, want 0", n, table)
		}
	}
}

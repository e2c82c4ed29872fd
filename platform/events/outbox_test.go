package events_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/pgtest"
)

// countingExecer forwards to next and counts the statements, as a caller's own Execer would
// (notification's store queues them to send later in its transaction).
type countingExecer struct {
	next  events.Execer
	execs int
}

func (c *countingExecer) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c.execs++
	return c.next.Exec(ctx, sql, args...)
}

// TestPublishTakesAnyExecerAndRunsOneStatement holds Publish to what its comment promises callers
// that are not a pgx.Tx: one statement through Exec, with and without the relay's wake-up.
func TestPublishTakesAnyExecerAndRunsOneStatement(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	for _, wake := range []bool{true, false} {
		out := events.NewOutbox("test")
		out.WakeRelay = wake
		ex := &countingExecer{next: pool}
		id, err := out.Publish(ctx, ex, "execer.t", "k", wrapperspb.String("x"))
		must(t, err)
		if ex.execs != 1 {
			t.Errorf("WakeRelay=%v: Publish ran %d statements, want 1", wake, ex.execs)
		}
		if n := pgtest.Count(t, pool, `SELECT count(*) FROM outbox WHERE event_id = $1`, id); n != 1 {
			t.Errorf("WakeRelay=%v: %d outbox rows with the returned id %s, want 1", wake, n, id)
		}
	}
}

package events_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/platform/waittest"
)

// A handler whose dependency is down returns Transient: the event is retried far beyond
// MaxAttempts and never dead-lettered, the records behind it wait, its offset is not committed
// (a consumer that stops meanwhile leaves it to the next one), and once the dependency is back it
// is applied, then the rest, in order. With and without a database.
func TestTransientFailureIsRetriedUntilApplied(t *testing.T) {
	for _, withDB := range []bool{false, true} {
		name := "without database"
		if withDB {
			name = "with database"
		}
		t.Run(name, func(t *testing.T) {
			var pool *pgxpool.Pool
			if withDB {
				pool = newDB(t)
			}
			testTransient(t, pool)
		})
	}
}

func testTransient(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	_, brokers := kafkatest.New(t)
	log, _ := testLogger(t)
	const topic, group, maxAttempts = "transient.t", "g", 3
	createTopics(ctx, t, brokers, topic)
	produce(t, brokers, ceRecord(topic, "k", wrapperspb.String("blocked")), ceRecord(topic, "k", wrapperspb.String("after")))

	var down atomic.Bool
	down.Store(true)
	var failures atomic.Int32
	var mu sync.Mutex
	var applied []string
	newMember := func() *events.Consumer {
		c := newConsumer(t, events.ConsumerConfig{Brokers: brokers, Group: group, Topics: []string{topic}, Pool: pool, Logger: log,
			MaxAttempts: maxAttempts, RetryBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
		events.On(c, func(_ context.Context, _ pgx.Tx, _ events.Event, msg *wrapperspb.StringValue) error {
			if msg.GetValue() == "blocked" && down.Load() {
				failures.Add(1)
				return events.Transient(errors.New("redis is down"))
			}
			mu.Lock()
			applied = append(applied, msg.GetValue())
			mu.Unlock()
			return nil
		})
		return c
	}
	appliedNow := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(applied)
	}

	stop := waittest.Go(t, newMember().Run)
	eventually(t, "retries beyond MaxAttempts", func() bool { return failures.Load() >= 3*maxAttempts })
	if got := appliedNow(); len(got) != 0 {
		t.Fatalf("applied %v while the first record was failing; the records behind it must wait", got)
	}
	// A gateway outage: the member stops; the next one gets the record again (its offset was
	// never committed) and keeps retrying.
	stop()
	seen := failures.Load()
	waittest.Go(t, newMember().Run)
	eventually(t, "the record delivered again to the next member", func() bool { return failures.Load() > seen })

	down.Store(false)
	eventually(t, "both records applied", func() bool { return len(appliedNow()) == 2 })
	if got := appliedNow(); !slices.Equal(got, []string{"blocked", "after"}) {
		t.Fatalf("applied %v, want [blocked after]", got)
	}
	if n := endOffsets(t, brokers, events.DeadLetterTopic(topic, group)); n != 0 {
		t.Fatalf("%d records dead-lettered, want none", n)
	}
}

// A database connection lost while the handler runs because the database went away (restarting,
// the network dropped) is an outage, not the event's fault: the event is retried without counting
// and applied once the database answers, never dead-lettered — here with MaxAttempts 1, which
// would dead-letter it at the first counted failure. A connection that breaks while the database
// still answers counts: an event whose handler kills its own connection every time reaches its
// dead letter instead of stalling the partition for good.
func TestConnectionLostInTheHandler(t *testing.T) {
	t.Run("the database unreachable: not counted", func(t *testing.T) {
		ctx := context.Background()
		pool := newDB(t)
		db := pool.Config().ConnConfig.Database
		admin, err := pgx.Connect(ctx, pgtest.ServerURL())
		if err != nil {
			t.Fatal(err)
		}
		allowConnections := func(ctx context.Context, allow bool) error {
			_, err := admin.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS %t`, pgx.Identifier{db}.Sanitize(), allow))
			return err
		}
		t.Cleanup(func() {
			_ = allowConnections(context.Background(), true)
			_ = admin.Close(context.Background())
		})
		_, brokers := kafkatest.New(t)
		log, _ := testLogger(t)
		const topic = "connlost.t"
		createTopics(ctx, t, brokers, topic)
		produce(t, brokers, ceRecord(topic, "k", wrapperspb.String("survives")))
		var runs atomic.Int32
		var applied atomic.Value
		c := newConsumer(t, events.ConsumerConfig{Brokers: brokers, Group: "g", Topics: []string{topic}, Pool: pool, Logger: log,
			MaxAttempts: 1, RetryBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
		events.On(c, func(ctx context.Context, tx pgx.Tx, _ events.Event, msg *wrapperspb.StringValue) error {
			if runs.Add(1) == 1 {
				// The database goes away under the handler: no new connections, every one cut.
				if err := allowConnections(ctx, false); err != nil {
					return err
				}
				if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, db); err != nil {
					return err
				}
				time.AfterFunc(300*time.Millisecond, func() { _ = allowConnections(context.Background(), true) })
				_, err := tx.Exec(ctx, `SELECT 1`)
				return err
			}
			applied.Store(msg.GetValue())
			return nil
		})
		waittest.Go(t, c.Run)
		eventually(t, "the event applied once the database is back", func() bool { return applied.Load() == "survives" })
	})

	t.Run("the database answering: counted, dead-lettered", func(t *testing.T) {
		ctx := context.Background()
		pool := newDB(t)
		_, brokers := kafkatest.New(t)
		log, _ := testLogger(t)
		const topic, group = "connkill.t", "g"
		createTopics(ctx, t, brokers, topic)
		produce(t, brokers, ceRecord(topic, "k", wrapperspb.String("kills its connection")), ceRecord(topic, "k", wrapperspb.String("after")))
		var runs atomic.Int32
		var applied atomic.Value
		c := newConsumer(t, events.ConsumerConfig{Brokers: brokers, Group: group, Topics: []string{topic}, Pool: pool, Logger: log,
			MaxAttempts: 2, RetryBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
		events.On(c, func(ctx context.Context, tx pgx.Tx, _ events.Event, msg *wrapperspb.StringValue) error {
			if msg.GetValue() == "after" {
				applied.Store(msg.GetValue())
				return nil
			}
			runs.Add(1)
			_, err := tx.Exec(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
			return err
		})
		waittest.Go(t, c.Run)
		// The next one is handled only once the first is safe in its dead letter.
		eventually(t, "the next event applied", func() bool { return applied.Load() == "after" })
		if n := endOffsets(t, brokers, events.DeadLetterTopic(topic, group)); n != 1 {
			t.Fatalf("%d dead letters; want the connection-killing event's", n)
		}
		// MaxAttempts counted tries, after the batch's own when both records came in one fetch.
		if n := runs.Load(); n < 2 || n > 3 {
			t.Fatalf("the connection-killing handler ran %d times; want MaxAttempts (2), plus at most the batch's try", n)
		}
	})
}

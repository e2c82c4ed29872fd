package events_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/platform/proctest"
	"github.com/parleyhq/parley/platform/waittest"
)

// Publish → relay → consumer, with the CloudEvents headers, key, extra headers and order checked
// on the wire, and a database-less consumer group reading the same topic.
func TestPublishRelayConsume(t *testing.T) {
	pool := newDB(t)
	_, brokers := kafkatest.New(t)
	log, rec := testLogger(t)
	const topic = "e2e.users"

	// An hour between polls: only notifications can get the events out in time.
	waittest.Go(t, newRelay(t, events.RelayConfig{Pool: pool, Brokers: brokers, Logger: log, PollInterval: time.Hour}).Run)
	eventually(t, "the relay to listen", func() bool { return rec.count("listening for outbox notifications") > 0 })

	out := events.NewOutbox("test-svc")
	out.Headers = func(context.Context) map[string]string {
		return map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", events.HeaderSource: "spoofed"}
	}
	before := time.Now().Add(-time.Second)
	idAlice := publish(t, pool, out, topic, "user-1", wrapperspb.String("alice"))
	// The relay may have caught that one in the pass it makes on starting to listen; these two
	// come after that pass, so only their notifications can wake it.
	eventually(t, "the first event published", func() bool { return unpublished(t, pool) == 0 })
	idSkipped := publish(t, pool, out, topic, "user-2", wrapperspb.Int64(42)) // no handler below
	idBob := publish(t, pool, out, topic, "user-2", wrapperspb.String("bob"))

	recs := kafkatest.Read(t, brokers, topic, 3)
	byID := map[string]*kgo.Record{}
	for _, r := range recs {
		byID[header(r, events.HeaderID)] = r
	}
	alice := byID[idAlice]
	if alice == nil {
		t.Fatalf("no record with ce_id %s", idAlice)
	}
	for h, want := range map[string]string{
		events.HeaderType:        "google.protobuf.StringValue",
		events.HeaderSource:      "test-svc",
		events.HeaderSpecVersion: "1.0",
		events.HeaderContentType: "application/protobuf",
		"traceparent":            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	} {
		if got := header(alice, h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	ceTime, err := time.Parse(time.RFC3339Nano, header(alice, events.HeaderTime))
	if err != nil || ceTime.Before(before) || ceTime.After(time.Now()) {
		t.Errorf("ce_time %q (%v) not a time of this test", header(alice, events.HeaderTime), err)
	}
	if string(alice.Key) != "user-1" || stringValue(t, alice) != "alice" {
		t.Errorf("record key %q value %q, want user-1 alice", alice.Key, stringValue(t, alice))
	}
	skipped, bob := byID[idSkipped], byID[idBob]
	if skipped == nil || bob == nil {
		t.Fatalf("missing records for user-2")
	}
	if skipped.Partition != bob.Partition || skipped.Offset > bob.Offset || header(skipped, events.HeaderType) != "google.protobuf.Int64Value" {
		t.Errorf("user-2 events out of order: %d/%d then %d/%d", skipped.Partition, skipped.Offset, bob.Partition, bob.Offset)
	}
	// The relay deletes the rows in the transaction it commits once the broker has acknowledged
	// them, so a consumer can read the records a moment before the rows are gone.
	eventually(t, "the outbox emptied after delivery", func() bool { return unpublished(t, pool) == 0 })

	// A consumer with an inbox.
	c := newConsumer(t, events.ConsumerConfig{Brokers: brokers, Group: "g-db", Topics: []string{topic}, Pool: pool, Logger: log})
	var mu sync.Mutex
	got := map[string]events.Event{}
	events.On(c, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *wrapperspb.StringValue) error {
		mu.Lock()
		got[ev.ID] = ev
		mu.Unlock()
		return writeEffect(ctx, tx, ev, msg)
	})
	waittest.Go(t, c.Run)
	eventually(t, "two effects", func() bool { return len(effects(t, pool)) == 2 })
	if vals := effects(t, pool); !slices.Contains(vals, "alice") || !slices.Contains(vals, "bob") {
		t.Errorf("effects %v, want alice and bob", vals)
	}
	mu.Lock()
	ev := got[idAlice]
	mu.Unlock()
	if ev.Type != "google.protobuf.StringValue" || ev.Source != "test-svc" || ev.Topic != topic || ev.Key != "user-1" ||
		!ev.Time.Equal(ceTime) || ev.Headers["traceparent"] == "" || ev.Offset != alice.Offset || ev.Partition != alice.Partition {
		t.Errorf("event seen by handler = %+v", ev)
	}
	if n := pgtest.Count(t, pool, `SELECT count(*) FROM inbox WHERE consumer_group = 'g-db'`); n != 2 {
		t.Errorf("inbox has %d rows, want 2 (the skipped type is not recorded)", n)
	}
	if n := endOffsets(t, brokers, events.DeadLetterTopic(topic, "g-db")); n != 0 {
		t.Errorf("dead-letter topic has %d records, want 0", n)
	}

	// A consumer without a database: tx is nil, no inbox.
	noDB := newConsumer(t, events.ConsumerConfig{Brokers: brokers, Group: "g-nodb", Topics: []string{topic}, Logger: log})
	seen := make(chan string, 10)
	events.On(noDB, func(_ context.Context, tx pgx.Tx, ev events.Event, msg *wrapperspb.StringValue) error {
		if tx != nil {
			t.Errorf("handler without pool got a transaction")
		}
		seen <- msg.GetValue()
		return nil
	})
	waittest.Go(t, noDB.Run)
	var vals []string
	for len(vals) < 2 {
		select {
		case v := <-seen:
			vals = append(vals, v)
		case <-time.After(wait):
			t.Fatalf("database-less consumer saw %v, want alice and bob", vals)
		}
	}
}

// Events written while Kafka is unreachable wait in the outbox, survive the relay being restarted,
// and arrive exactly once, in order, when a broker is back; a running relay rides out a broker
// restart, and even a broker that comes back without its data.
func TestRelaySurvivesBrokerDownAndRestart(t *testing.T) {
	pool := newDB(t)
	log, rec := testLogger(t)
	port, err := proctest.FreePort() // nothing listens here yet
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	brokers := []string{fmt.Sprintf("127.0.0.1:%d", port)}
	cfg := events.RelayConfig{Pool: pool, Brokers: brokers, Logger: log, PublishTimeout: time.Second, MaxBackoff: 200 * time.Millisecond,
		// Re-read metadata sooner than franz-go's default 5s after a failure: this test fails a lot.
		ClientOpts: []kgo.Opt{kgo.MetadataMinAge(100 * time.Millisecond)}}
	const topic = "outage.t"
	out := events.NewOutbox("test")
	publishRange := func(from, to int) {
		for i := from; i < to; i++ {
			publish(t, pool, out, topic, "k", wrapperspb.String(fmt.Sprint(i)))
		}
	}
	const failed = "outbox relay: publish failed, will retry"
	waitForFailures := func() {
		t.Helper()
		n := rec.count(failed)
		eventually(t, "the relay to fail twice", func() bool { return rec.count(failed) >= n+2 })
		if n := unpublished(t, pool); n != 5 {
			t.Fatalf("%d rows unpublished while no broker runs, want 5", n)
		}
	}
	// delivered waits until the outbox is drained and checks the topic holds exactly want, in
	// order. Rows marked published are never sent again, so the topic's size is then final.
	delivered := func(want []string) {
		t.Helper()
		eventually(t, "all rows published", func() bool { return unpublished(t, pool) == 0 })
		if n := endOffsets(t, brokers, topic); n != int64(len(want)) {
			t.Fatalf("topic holds %d records, want exactly %d", n, len(want))
		}
		if got := values(t, kafkatest.Read(t, brokers, topic, len(want))); !slices.Equal(got, want) {
			t.Fatalf("records %v, want %v", got, want)
		}
	}

	// No broker yet; the relay fails, retries, and is stopped.
	stop1 := waittest.Go(t, newRelay(t, cfg).Run)
	publishRange(0, 5)
	waitForFailures()
	stop1()

	// A broker starts and a new relay (the restart) publishes the backlog and what follows.
	dataDir := t.TempDir()
	broker := startBroker(t, port, kfake.DataDir(dataDir))
	waittest.Go(t, newRelay(t, cfg).Run)
	publishRange(5, 10)
	delivered(seq(0, 10))

	// The broker stops under the running relay and restarts with its data.
	broker.Close()
	publishRange(10, 15)
	waitForFailures()
	broker = startBroker(t, port, kfake.DataDir(dataDir))
	delivered(seq(0, 15))

	// The broker comes back without its data: the relay creates the topic again.
	broker.Close()
	publishRange(15, 20)
	waitForFailures()
	startBroker(t, port)
	delivered(seq(15, 20))
}

// A transaction still open on the server — here one that has already written an outbox row, with
// a smaller id — holds nobody else's events back, and its own row is neither skipped nor
// lost: it goes out once it commits. (Only transactions on the same key could need ordering, and
// those serialise on the key before their first write; see the next test.)
func TestAnOpenTransactionHoldsNoOtherEventsBack(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	_, brokers := kafkatest.New(t)
	log, _ := testLogger(t)
	const topic = "open.t"
	createTopics(ctx, t, brokers, topic)
	out := events.NewOutbox("test")
	waittest.Go(t, newRelay(t, events.RelayConfig{Pool: pool, Brokers: brokers, Logger: log}).Run)

	txA, err := pool.Begin(ctx)
	must(t, err)
	defer txA.Rollback(ctx) //nolint:errcheck // only for a test that fails before the commit
	idA, err := out.Publish(ctx, txA, topic, "a", wrapperspb.String("a"))
	must(t, err)
	idB := publish(t, pool, out, topic, "b", wrapperspb.String("b"))

	recs := kafkatest.Read(t, brokers, topic, 1)
	if header(recs[0], events.HeaderID) != idB {
		t.Fatalf("published %v while A was open, want B (%s) alone", values(t, recs), idB)
	}
	must(t, txA.Commit(ctx))
	eventually(t, "A published after its commit", func() bool { return unpublished(t, pool) == 0 })
	if n := endOffsets(t, brokers, topic); n != 2 {
		t.Fatalf("topic holds %d records, want 2", n)
	}
	got := map[string]bool{}
	for _, r := range kafkatest.Read(t, brokers, topic, 2) {
		got[header(r, events.HeaderID)] = true
	}
	if !got[idA] || !got[idB] {
		t.Fatalf("records %v, want A (%s) and B (%s)", got, idA, idB)
	}
}

// Concurrent writers that serialise on a key before their first write (Publish's rule; chat's
// sends do it with an advisory lock) get that key's events published in their commit order, even
// with the relay passing while they run. Each writer reads the key's counter under the lock and
// publishes the next number, so commit order is 1, 2, 3, …
func TestWritersSerialisedOnAKeyArePublishedInCommitOrder(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	_, brokers := kafkatest.New(t)
	log, _ := testLogger(t)
	const topic = "serialised.t"
	createTopics(ctx, t, brokers, topic)
	_, err := pool.Exec(ctx, `CREATE TABLE counter (n int NOT NULL); INSERT INTO counter VALUES (0)`)
	must(t, err)
	out := events.NewOutbox("test")
	out.WakeRelay = false
	waittest.Go(t, newRelay(t, events.RelayConfig{Pool: pool, Brokers: brokers, Logger: log, Wakeups: out.Wakeups(), PollInterval: 5 * time.Millisecond}).Run)

	const writers, each = 8, 25
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				err := pg.InTx(ctx, pool, func(tx pgx.Tx) error {
					if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(42)`); err != nil {
						return err
					}
					var n int
					if err := tx.QueryRow(ctx, `UPDATE counter SET n = n + 1 RETURNING n`).Scan(&n); err != nil {
						return err
					}
					_, err := out.Publish(ctx, tx, topic, "k", wrapperspb.String(fmt.Sprint(n)))
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				out.Wake()
			}
		})
	}
	wg.Wait()
	if got := values(t, kafkatest.Read(t, brokers, topic, writers*each)); !slices.Equal(got, seq(1, writers*each+1)) {
		t.Fatalf("records %v, want 1..%d in order", got, writers*each)
	}
}

// Two relays on one database (two replicas) publish every event exactly once, in order.
func TestOneRelayPublishesAtATime(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	_, brokers := kafkatest.New(t)
	log, _ := testLogger(t)
	const topic = "replicas.t"
	out := events.NewOutbox("test")
	cfg := events.RelayConfig{Pool: pool, Brokers: brokers, Logger: log, BatchSize: 3, PollInterval: 10 * time.Millisecond}
	waittest.Go(t, newRelay(t, cfg).Run)
	waittest.Go(t, newRelay(t, cfg).Run)

	const n = 40
	for i := 0; i < n; i += 4 { // some transactions publish several events
		must(t, pg.InTx(ctx, pool, func(tx pgx.Tx) error {
			for j := i; j < i+4; j++ {
				if _, err := out.Publish(ctx, tx, topic, "k", wrapperspb.String(fmt.Sprint(j))); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	eventually(t, "all rows published", func() bool { return unpublished(t, pool) == 0 })
	if got := endOffsets(t, brokers, topic); got != n {
		t.Fatalf("topic holds %d records, want exactly %d", got, n)
	}
	if got := values(t, kafkatest.Read(t, brokers, topic, n)); !slices.Equal(got, seq(0, n)) {
		t.Fatalf("records %v, want %v", got, seq(0, n))
	}
}

// Published outbox rows are deleted with their publication, and old inbox rows after their
// retention.
func TestRetention(t *testing.T) {
	pool := newDB(t)
	_, brokers := kafkatest.New(t)
	log, _ := testLogger(t)
	const topic = "retention.t"
	waittest.Go(t, newRelay(t, events.RelayConfig{Pool: pool, Brokers: brokers, Logger: log}).Run)
	c := newConsumer(t, events.ConsumerConfig{Brokers: brokers, Group: "g", Topics: []string{topic}, Pool: pool, Logger: log,
		InboxRetention: 50 * time.Millisecond})
	events.On(c, writeEffect)
	waittest.Go(t, c.Run)

	publish(t, pool, events.NewOutbox("test"), topic, "k", wrapperspb.String("x"))
	eventually(t, "the effect", func() bool { return len(effects(t, pool)) == 1 })
	eventually(t, "outbox and inbox emptied", func() bool {
		return pgtest.Count(t, pool, `SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM inbox)`) == 0
	})
}

func TestCreateMissingTopics(t *testing.T) {
	ctx := context.Background()
	_, brokers := kafkatest.New(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	must(t, err)
	defer cl.Close()
	must(t, events.CreateMissingTopics(ctx, cl, 0, "a", "b"))      // 0: DefaultPartitions
	must(t, events.CreateMissingTopics(ctx, cl, 0, "a", "c", "c")) // existing and repeated topics are fine
	must(t, events.CreateMissingTopics(ctx, cl, 2, "d", "a"))

	details, err := admin(t, brokers).ListTopics(ctx, "a", "b", "c", "d")
	must(t, err)
	for topic, want := range map[string]int{"a": events.DefaultPartitions, "b": events.DefaultPartitions, "c": events.DefaultPartitions, "d": 2} {
		d := details[topic]
		if d.Err != nil || len(d.Partitions) != want {
			t.Errorf("topic %s: %d partitions (err %v), want %d", topic, len(d.Partitions), d.Err, want)
		}
	}
}

// The relay takes the oldest rows through the primary key and deletes them by address. Planned
// while the outbox is small, as when a service starts, the plan must not scan the table whole:
// on a busy outbox most of the table is rows deleted since the last vacuum, and a kept plan read
// them all on every pass.
func TestTakePlanScansNoTable(t *testing.T) {
	pool := newDB(t)
	ctx := context.Background()
	outbox := events.NewOutbox("test")
	for range 3 {
		if err := pg.InTx(ctx, pool, func(tx pgx.Tx) error {
			_, err := outbox.Publish(ctx, tx, "plan.test", "k", wrapperspb.String("x"))
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, "ANALYZE outbox"); err != nil {
		t.Fatal(err)
	}
	var plan []string
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, events.NoSeqScanSQL); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `PREPARE take(bigint, int) AS `+events.TakeRowsSQL); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_generic_plan`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `EXPLAIN EXECUTE take(1, 10)`)
		if err != nil {
			return err
		}
		plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if strings.Contains(text, "Seq Scan") || !strings.Contains(text, "Tid Scan") {
		t.Fatalf("the relay's take scans the outbox whole, or does not delete by address:\n%s", text)
	}
}

package events_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/platform/waittest"
)

// wait is the deadline for anything a test waits for; generous for a loaded 2-core machine.
const wait = 30 * time.Second

// newDB returns a fresh database with the events tables and an effects table that test handlers
// write to. effects has no unique constraint on purpose: a second effect must show as a second row.
func newDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := pgtest.New(t, pgtest.Migration{Component: "events", Files: events.Migrations})
	if _, err := pool.Exec(context.Background(), `CREATE TABLE effects (
		id bigserial PRIMARY KEY, event_id uuid NOT NULL, value text NOT NULL)`); err != nil {
		t.Fatalf("create effects: %v", err)
	}
	return pool
}

// recorder counts log messages so tests can wait for something to have happened inside a relay
// or consumer, and passes every record on to the test log.
type recorder struct {
	mu   sync.Mutex
	msgs map[string]int
}

func (r *recorder) count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msgs[msg]
}

type recHandler struct {
	rec   *recorder
	inner slog.Handler
}

func (h recHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recHandler) Handle(ctx context.Context, r slog.Record) error {
	h.rec.mu.Lock()
	h.rec.msgs[r.Message]++
	h.rec.mu.Unlock()
	return h.inner.Handle(ctx, r)
}
func (h recHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return recHandler{h.rec, h.inner.WithAttrs(as)}
}
func (h recHandler) WithGroup(name string) slog.Handler {
	return recHandler{h.rec, h.inner.WithGroup(name)}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func testLogger(t *testing.T) (*slog.Logger, *recorder) {
	rec := &recorder{msgs: map[string]int{}}
	inner := slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(recHandler{rec, inner}), rec
}

func newRelay(t *testing.T, cfg events.RelayConfig) *events.Relay {
	t.Helper()
	r, err := events.NewRelay(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newConsumer(t *testing.T, cfg events.ConsumerConfig) *events.Consumer {
	t.Helper()
	c, err := events.NewConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// publish commits one event through the outbox.
func publish(t *testing.T, pool *pgxpool.Pool, out *events.Outbox, topic, key string, msg proto.Message) string {
	t.Helper()
	var id string
	err := pg.InTx(context.Background(), pool, func(tx pgx.Tx) error {
		var err error
		id, err = out.Publish(context.Background(), tx, topic, key, msg)
		return err
	})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	return id
}

// eventually polls cond until it holds (waittest.Until; the events tests wait for a lot).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waittest.Until(t, what, cond)
}

func unpublished(t *testing.T, pool *pgxpool.Pool) int {
	return pgtest.Count(t, pool, `SELECT count(*) FROM outbox`)
}

// effects returns the values the test handlers wrote, in order.
func effects(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, _ := pool.Query(context.Background(), `SELECT value FROM effects ORDER BY id`)
	vals, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("read effects: %v", err)
	}
	return vals
}

// writeEffect is a handler that records the event's string payload in effects, in the inbox
// transaction.
func writeEffect(ctx context.Context, tx pgx.Tx, ev events.Event, msg *wrapperspb.StringValue) error {
	_, err := tx.Exec(ctx, `INSERT INTO effects (event_id, value) VALUES ($1, $2)`, ev.ID, msg.GetValue())
	return err
}

// endOffsets sums topic's end offsets: the number of records ever written to it.
func endOffsets(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	adm := admin(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	offs, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	var sum int64
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s/%d: %v", topic, o.Partition, o.Err)
		}
		sum += o.Offset
	})
	return sum
}

// createTopics creates topics with DefaultPartitions partitions, as a test that produces before
// any consumer or relay runs needs them.
func createTopics(ctx context.Context, t *testing.T, brokers []string, topics ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	must(t, err)
	defer cl.Close()
	must(t, events.CreateMissingTopics(ctx, cl, 0, topics...))
}

func admin(t *testing.T, brokers []string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// produce writes records as they are, bypassing the outbox: for duplicates and malformed input.
func produce(t *testing.T, brokers []string, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	kafkatest.Produce(t, cl, recs...)
}

// ceRecord builds a well-formed event record by hand, with a new ce_id.
func ceRecord(topic, key string, msg proto.Message) *kgo.Record {
	return eventstest.Record(topic, key, uuid.NewString(), msg)
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func stringValue(t *testing.T, r *kgo.Record) string {
	t.Helper()
	var v wrapperspb.StringValue
	if err := proto.Unmarshal(r.Value, &v); err != nil {
		t.Fatalf("decode record value: %v", err)
	}
	return v.GetValue()
}

// startBroker starts a kfake broker on port, retrying briefly in case the port is still being
// released by a broker that just stopped. It does not create topics on use: the code under test
// must create its topics.
func startBroker(t *testing.T, port int, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	var c *kfake.Cluster
	waittest.UntilNil(t, fmt.Sprintf("a broker on port %d", port), func() error {
		var err error
		c, err = kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port)}, opts...)...)
		return err
	})
	t.Cleanup(c.Close)
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var errPoison = errors.New("poisoned")

func values(t *testing.T, recs []*kgo.Record) []string {
	t.Helper()
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = stringValue(t, r)
	}
	return out
}

func seq(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprint(i))
	}
	return out
}

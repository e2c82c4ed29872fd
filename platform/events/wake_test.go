package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/platform/waittest"
)

// An outbox without NOTIFY whose writer calls Wake after the commit gets its events out at once,
// although the relay would not poll for an hour: the wake-up travels inside the process.
func TestWakeAfterCommitPublishesWithoutNotifyOrPolling(t *testing.T) {
	pool := newDB(t)
	_, brokers := kafkatest.New(t)
	log, _ := testLogger(t)
	const topic = "wake.users"
	out := events.NewOutbox("test-svc")
	out.WakeRelay = false
	waittest.Go(t, newRelay(t, events.RelayConfig{Pool: pool, Brokers: brokers, Logger: log,
		PollInterval: time.Hour, Wakeups: out.Wakeups(), Linger: time.Millisecond}).Run)
	// The relay's first pass runs at start; everything after it needs a wake-up.
	time.Sleep(200 * time.Millisecond)

	var ids []string
	for i := range 3 {
		ids = append(ids, publish(t, pool, out, topic, "k", wrapperspb.String(string(rune('a'+i)))))
	}
	if n := unpublished(t, pool); n != 3 {
		t.Fatalf("%d rows unpublished before any wake-up, want 3 (no NOTIFY, no poll)", n)
	}
	out.Wake()
	recs := kafkatest.Read(t, brokers, topic, 3)
	for i, r := range recs {
		if got := header(r, events.HeaderID); got != ids[i] {
			t.Fatalf("record %d has ce_id %s, want %s (commit order)", i, got, ids[i])
		}
	}
	eventually(t, "the rows marked published", func() bool { return unpublished(t, pool) == 0 })
}

// A caller that inserts its event in a statement of its own, with Row's values under
// OutboxColumns, publishes exactly what Publish would — including protobuf fields it appends to
// the payload in SQL (chat appends the seq it hands out).
func TestRowInsertedByTheCallerWithFieldsAppendedInSQL(t *testing.T) {
	pool := newDB(t)
	_, brokers := kafkatest.New(t)
	log, _ := testLogger(t)
	const topic = "row.values"
	out := events.NewOutbox("test-svc")
	out.WakeRelay = false
	waittest.Go(t, newRelay(t, events.RelayConfig{Pool: pool, Brokers: brokers, Logger: log,
		PollInterval: time.Hour, Wakeups: out.Wakeups()}).Run)

	// A Struct with one field set in Go; a second map entry (field 1, length-delimited) is
	// appended by the statement, as a database-assigned value would be.
	msg, err := structpb.NewStruct(map[string]any{"from_go": "yes"})
	if err != nil {
		t.Fatal(err)
	}
	row, err := out.Row(context.Background(), topic, "k", msg)
	if err != nil {
		t.Fatal(err)
	}
	entry := protowire.AppendTag(nil, 1, protowire.BytesType) // Struct.fields: a map entry
	kv := protowire.AppendTag(nil, 1, protowire.BytesType)
	kv = protowire.AppendString(kv, "from_sql")
	val := protowire.AppendTag(nil, 3, protowire.BytesType) // Value.string_value
	val = protowire.AppendString(val, "appended")
	kv = protowire.AppendTag(kv, 2, protowire.BytesType)
	kv = protowire.AppendBytes(kv, val)
	entry = protowire.AppendBytes(entry, kv)

	args := append(row.Values(), entry)
	must(t, pg.InTx(context.Background(), pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `INSERT INTO outbox (`+events.OutboxColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7 || $9::bytea, $8)`, args...)
		return err
	}))
	out.Wake()

	rec := kafkatest.Read(t, brokers, topic, 1)[0]
	if header(rec, events.HeaderID) != row.EventID.String() || header(rec, events.HeaderType) != "google.protobuf.Struct" {
		t.Fatalf("record headers %v, want ce_id %s of type google.protobuf.Struct", rec.Headers, row.EventID)
	}
	var got structpb.Struct
	if err := proto.Unmarshal(rec.Value, &got); err != nil {
		t.Fatal(err)
	}
	want, _ := structpb.NewStruct(map[string]any{"from_go": "yes", "from_sql": "appended"})
	if !proto.Equal(&got, want) {
		t.Fatalf("payload decodes to %v, want %v", got.AsMap(), want.AsMap())
	}
}

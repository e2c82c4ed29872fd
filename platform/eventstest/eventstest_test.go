package eventstest_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"testing/fstest"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/platform/waittest"
)

// A record from Record goes through the broker unchanged and a consumer started with Run
// decodes it as the relay's: its ce_id, ce_type, ce_source and payload.
func TestRecordIsWhatAConsumerReads(t *testing.T) {
	_, brokers := kafkatest.New(t)
	id1, id2 := uuid.NewString(), uuid.NewString()
	rec := eventstest.Record("things", "key-1", id1, wrapperspb.String("hello"))
	kafkatest.Produce(t, kafkatest.Producer(t, brokers), rec, eventstest.Record("things", "key-1", id2, wrapperspb.String("second")))

	got := kafkatest.Read(t, brokers, "things", 2)
	if len(got) != 2 || string(got[0].Key) != "key-1" || string(got[1].Key) != "key-1" {
		t.Fatalf("read %d records %v; want the two under key-1", len(got), got)
	}
	var first wrapperspb.StringValue
	if err := proto.Unmarshal(got[0].Value, &first); err != nil || first.GetValue() != "hello" {
		t.Fatalf("first payload %q, %v; want hello", first.GetValue(), err)
	}

	c, err := events.NewConsumer(events.ConsumerConfig{Brokers: brokers, Group: "eventstest", Topics: []string{"things"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan events.Event, 2)
	values := make(chan string, 2)
	events.On(c, func(_ context.Context, _ pgx.Tx, ev events.Event, msg *wrapperspb.StringValue) error {
		seen <- ev
		values <- msg.GetValue()
		return nil
	})
	eventstest.Run(t, c)
	var evs []events.Event
	waittest.Until(t, "both events handled", func() bool {
		select {
		case ev := <-seen:
			evs = append(evs, ev)
		default:
		}
		return len(evs) == 2
	})
	if evs[0].ID != id1 || evs[1].ID != id2 || evs[0].Type != "google.protobuf.StringValue" || evs[0].Source != "test" {
		t.Fatalf("events %+v; want %s then %s of type google.protobuf.StringValue from test", evs, id1, id2)
	}
	if v1, v2 := <-values, <-values; v1 != "hello" || v2 != "second" {
		t.Fatalf("payloads %q, %q; want hello, second", v1, v2)
	}
}

// NewDB holds platform/events' outbox and inbox, then the service's migrations, recorded under
// the service's name.
func TestNewDB(t *testing.T) {
	svc := fstest.MapFS{"001_things.sql": {Data: []byte(`CREATE TABLE things (id int PRIMARY KEY);`)}}
	pool := eventstest.NewDB(t, "things", svc)
	for _, table := range []string{"outbox", "inbox", "things"} {
		if n := pgtest.Count(t, pool, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%d rows in %s, want 0", n, table)
		}
	}
	if n := pgtest.Count(t, pool, `SELECT count(*) FROM schema_migrations WHERE component = 'things'`); n != 1 {
		t.Fatalf("%d migrations recorded for the service, want 1", n)
	}
}

// Package eventstest is what tests of a platform/events consumer share: a service's database as
// the service runs it, records as the outbox relay publishes them, and a consumer run for the
// length of a test. Producing and reading raw
// records is platform/kafkatest's.
package eventstest

import (
	"context"
	"io/fs"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/pgtest"
)

// NewDB returns a fresh database (dropped when the test ends) with platform/events' tables (the
// outbox and the inbox) and then the service's own migrations, recorded under its name, as
// platform/startup applies them: eventstest.NewDB(t, "chat", chatdb.Migrations).
func NewDB(t testing.TB, service string, migrations fs.FS) *pgxpool.Pool {
	t.Helper()
	return pgtest.New(t,
		pgtest.Migration{Component: "events", Files: events.Migrations},
		pgtest.Migration{Component: service, Files: migrations})
}

// Record builds a record of msg as platform/events' relay publishes it: protobuf value, the
// entity key, CloudEvents binary-mode headers with id as ce_id (a redelivery repeats it), msg's
// full name as ce_type and "test" as ce_source. It panics if msg cannot be marshalled.
func Record(topic, key, id string, msg proto.Message) *kgo.Record {
	payload, err := proto.Marshal(msg)
	if err != nil {
		panic("eventstest: marshal " + string(msg.ProtoReflect().Descriptor().FullName()) + ": " + err.Error())
	}
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: payload, Headers: []kgo.RecordHeader{
		{Key: events.HeaderID, Value: []byte(id)},
		{Key: events.HeaderType, Value: []byte(msg.ProtoReflect().Descriptor().FullName())},
		{Key: events.HeaderSource, Value: []byte("test")},
		{Key: events.HeaderTime, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
		{Key: events.HeaderSpecVersion, Value: []byte(events.SpecVersion)},
		{Key: events.HeaderContentType, Value: []byte(events.ContentType)},
	}}
}

// Run runs c (its handlers registered) in a goroutine until the test ends, then stops it and
// fails the test if Run returned an error. Start it after the cleanups of what it uses (the
// database, the broker) are registered, so it stops before they go.
func Run(t testing.TB, c *events.Consumer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
	})
}

// Package friendtest holds what the friend service's tests share: a fresh database with the
// service's migrations, users seeded the way the event consumers record them, and events produced
// as platform/events' relay does. Access tokens come from platform/authntest.
package friendtest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/services/friend/internal/frienddb"
)

// NewDB returns a fresh database with the events and friend migrations applied.
func NewDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return pgtest.New(t,
		pgtest.Migration{Component: "events", Files: events.Migrations},
		pgtest.Migration{Component: "friend", Files: frienddb.Migrations})
}

// AddUser records a user with nickname as UserRegistered would, and returns the new user's id.
func AddUser(t testing.TB, pool *pgxpool.Pool, nickname string) string {
	t.Helper()
	id := uuid.NewString()
	if _, err := pool.Exec(context.Background(), `INSERT INTO users (user_id, nickname) VALUES ($1, $2)`, id, nickname); err != nil {
		t.Fatalf("add user %s: %v", nickname, err)
	}
	return id
}

// Produce writes msg to topic as platform/events' relay does: protobuf value, CloudEvents
// binary-mode headers with eventID as ce_id.
func Produce(t testing.TB, client *kgo.Client, topic, key, eventID string, msg proto.Message) {
	t.Helper()
	payload, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	rec := &kgo.Record{Topic: topic, Key: []byte(key), Value: payload, Headers: []kgo.RecordHeader{
		{Key: events.HeaderID, Value: []byte(eventID)},
		{Key: events.HeaderType, Value: []byte(msg.ProtoReflect().Descriptor().FullName())},
		{Key: events.HeaderSource, Value: []byte("test")},
		{Key: events.HeaderTime, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
		{Key: events.HeaderSpecVersion, Value: []byte(events.SpecVersion)},
		{Key: events.HeaderContentType, Value: []byte(events.ContentType)},
	}}
	if err := client.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// Package friendtest holds what the friend service's tests share: a fresh database with the
// service's migrations, users seeded the way the event consumers record them, and events produced
// as platform/events' relay does. Access tokens come from platform/authntest.
package friendtest

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/kafkatest"
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
	kafkatest.Produce(t, client, eventstest.Record(topic, key, eventID, msg))
}

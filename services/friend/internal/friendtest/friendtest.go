// Package friendtest holds what the friend service's tests share: users seeded the way the event
// consumers record them, and events produced as platform/events' relay does. Access tokens come
// from platform/authntest.
package friendtest

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/kafkatest"
)

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

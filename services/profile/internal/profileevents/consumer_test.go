package profileevents_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/platform/waittest"
	"github.com/parleyhq/parley/services/profile/internal/profile"
	"github.com/parleyhq/parley/services/profile/internal/profilecache"
	"github.com/parleyhq/parley/services/profile/internal/profiledb"
	"github.com/parleyhq/parley/services/profile/internal/profileevents"
)

// registered builds a UserRegistered record as the auth service's outbox relay publishes it, under
// key userID.
func registered(eventID, userID, nickname string) *kgo.Record {
	return eventstest.Record(topics.Auth, userID, eventID, &eventsv1.UserRegistered{UserId: userID, Nickname: nickname,
		RegisteredAt: timestamppb.Now(), Method: "password"})
}

// startConsumer runs the profile service's consumer (profileevents.Register on store and cache)
// until the test ends.
func startConsumer(t *testing.T, brokers []string, pool *pgxpool.Pool, store *profiledb.Store, cache *profilecache.Cache) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	consumer, err := events.NewConsumer(events.ConsumerConfig{Brokers: brokers, Group: profileevents.Group,
		Topics: profileevents.Topics, Pool: pool, Logger: logger, RetryBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	profileevents.Register(consumer, store, cache, logger)
	eventstest.Run(t, consumer)
}

func TestUserRegisteredCreatesOneProfile(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, brokers := kafkatest.New(t)
	pool := eventstest.NewDB(t, "profile", profiledb.Migrations)
	store := profiledb.New(pool, events.NewOutbox("profile"))
	startConsumer(t, brokers, pool, store, profilecache.New(redistest.New(t), time.Minute))
	producer := kafkatest.Producer(t, brokers)
	produce := func(r *kgo.Record) {
		t.Helper()
		kafkatest.Produce(t, producer, r)
	}

	alice, eventID := uuid.NewString(), uuid.NewString()
	produce(registered(eventID, alice, "alice"))
	waittest.Until(t, "alice's profile", func() bool {
		return pgtest.Count(t, pool, `SELECT count(*) FROM profiles WHERE user_id = $1`, alice) == 1
	})
	p, err := store.Get(ctx, alice)
	if err != nil || p.Nickname != "alice" || p.NicknameStatus != profile.NicknameChosen {
		t.Fatalf("alice: %+v, %v", p, err)
	}

	// Redelivery of the same event (same ce_id), and the same registration published again
	// under a new event id: neither creates anything.
	produce(registered(eventID, alice, "alice"))
	produce(registered(uuid.NewString(), alice, "alice"))
	// A later event on the same partition (same key) shows when those have been handled.
	marker := uuid.NewString()
	rec := registered(uuid.NewString(), marker, "ALICE")
	rec.Key = []byte(alice)
	produce(rec)
	waittest.Until(t, "the marker profile", func() bool {
		return pgtest.Count(t, pool, `SELECT count(*) FROM profiles WHERE user_id = $1`, marker) == 1
	})

	if n := pgtest.Count(t, pool, `SELECT count(*) FROM profiles WHERE user_id = $1`, alice); n != 1 {
		t.Errorf("%d profiles for alice, want 1", n)
	}
	if n := pgtest.Count(t, pool, `SELECT count(*) FROM outbox WHERE key = $1 AND ce_type = 'parley.events.v1.ProfileUpdated'`, alice); n != 1 {
		t.Errorf("%d ProfileUpdated outbox rows for alice, want 1", n)
	}
	if n := pgtest.Count(t, pool, `SELECT count(*) FROM inbox WHERE consumer_group = 'profile'`); n != 3 {
		t.Errorf("%d inbox rows, want 3 (two distinct events for alice, one for the marker)", n)
	}
	// The marker asked for "ALICE", taken by alice: it gets a derived nickname and is told.
	m, err := store.Get(ctx, marker)
	if err != nil || m.NicknameStatus != profile.NicknameRequestedTaken || m.RequestedNickname != "ALICE" || m.Nickname == "ALICE" {
		t.Errorf("marker: %+v, %v", m, err)
	}
}

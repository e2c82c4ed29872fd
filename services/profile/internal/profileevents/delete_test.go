package profileevents_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/platform/waittest"
	"github.com/parleyhq/parley/services/profile/internal/profile"
	"github.com/parleyhq/parley/services/profile/internal/profilecache"
	"github.com/parleyhq/parley/services/profile/internal/profiledb"
	"github.com/parleyhq/parley/services/profile/internal/profileevents"
)

// userDeleted builds a UserDeleted record as auth's relay publishes it.
func userDeleted(t *testing.T, eventID, userID string) *kgo.Record {
	t.Helper()
	payload, err := proto.Marshal(&eventsv1.UserDeleted{UserId: userID, DeletedAt: timestamppb.Now()})
	if err != nil {
		t.Fatal(err)
	}
	r := registered(t, eventID, userID, "x")
	r.Value = payload
	for i := range r.Headers {
		if r.Headers[i].Key == events.HeaderType {
			r.Headers[i].Value = []byte("parley.events.v1.UserDeleted")
		}
	}
	return r
}

// TestUserDeletedErasesTheProfile: the profile row goes, the cached copy cannot be served or put
// back, the nickname is free, and neither a redelivered deletion nor a late registration brings
// anything back. The consumer is started only after the deletion was published: a profile
// service that was down catches up from the event.
func TestUserDeletedErasesTheProfile(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, brokers := kafkatest.New(t)
	pool := pgtest.New(t,
		pgtest.Migration{Component: "events", Files: events.Migrations},
		pgtest.Migration{Component: "profile", Files: profiledb.Migrations})
	store := profiledb.New(pool, events.NewOutbox("profile"))
	cache := profilecache.New(redistest.New(t), time.Minute)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	producer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	produce := func(r *kgo.Record) {
		t.Helper()
		if err := producer.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	start := func() {
		consumer, err := events.NewConsumer(events.ConsumerConfig{Brokers: brokers, Group: profileevents.Group,
			Topics: profileevents.Topics, Pool: pool, Logger: logger, RetryBackoff: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		profileevents.Register(consumer, store, cache, logger)
		cctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- consumer.Run(cctx) }()
		t.Cleanup(func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("consumer: %v", err)
			}
		})
	}

	alice, bob := uuid.NewString(), uuid.NewString()
	produce(registered(t, uuid.NewString(), alice, "alice"))
	produce(registered(t, uuid.NewString(), bob, "bobby"))
	start()
	waittest.Until(t, "both profiles", func() bool {
		return count(t, pool, `SELECT count(*) FROM profiles WHERE user_id = ANY($1::uuid[])`, []string{alice, bob}) == 2
	})
	p, err := store.Get(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.Put(ctx, p); err != nil {
		t.Fatal(err)
	}

	deletion := uuid.NewString()
	produce(userDeleted(t, deletion, alice))
	waittest.Until(t, "alice's profile gone", func() bool {
		return count(t, pool, `SELECT count(*) FROM profiles WHERE user_id = $1`, alice) == 0
	})
	if n := count(t, pool, `SELECT count(*) FROM deleted_users WHERE user_id = $1`, alice); n != 1 {
		t.Fatalf("%d tombstones for alice, want 1", n)
	}
	if got, err := cache.GetMany(ctx, []string{alice}); err != nil || len(got) != 0 {
		t.Fatalf("cached profile after deletion: %v, %v", got, err)
	}
	// A reader that read the row before the deletion cannot put it back.
	if err := cache.Put(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got, _ := cache.GetMany(ctx, []string{alice}); len(got) != 0 {
		t.Fatalf("a stale fill was served after deletion: %v", got)
	}

	// The same deletion again, a second deletion event, and a late registration of alice under a
	// new event id: nothing comes back. A newcomer then gets the freed nickname as asked.
	produce(userDeleted(t, deletion, alice))
	produce(userDeleted(t, uuid.NewString(), alice))
	produce(registered(t, uuid.NewString(), alice, "alice"))
	carol := uuid.NewString()
	marker := registered(t, uuid.NewString(), carol, "alice")
	marker.Key = []byte(alice) // same partition: handled after the records above
	produce(marker)
	waittest.Until(t, "carol's profile", func() bool { return count(t, pool, `SELECT count(*) FROM profiles WHERE user_id = $1`, carol) == 1 })
	if n := count(t, pool, `SELECT count(*) FROM profiles WHERE user_id = $1`, alice); n != 0 {
		t.Fatal("a late registration recreated the deleted profile")
	}
	c, err := store.Get(ctx, carol)
	if err != nil || c.Nickname != "alice" || c.NicknameStatus != profile.NicknameChosen {
		t.Fatalf("carol: %+v, %v; want the freed nickname alice", c, err)
	}
	if _, err := store.Get(ctx, bob); err != nil {
		t.Fatalf("bob's profile: %v", err)
	}
}

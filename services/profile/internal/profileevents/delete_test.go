package profileevents_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
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
)

// userDeleted builds a UserDeleted record as auth's relay publishes it, under key userID.
func userDeleted(eventID, userID string) *kgo.Record {
	return eventstest.Record(topics.Auth, userID, eventID, &eventsv1.UserDeleted{UserId: userID, DeletedAt: timestamppb.Now()})
}

// TestUserDeletedErasesTheProfile: the profile row goes, the cached copy cannot be served or put
// back, the nickname is free, and neither a redelivered deletion nor a late registration brings
// anything back. The consumer is started only after the deletion was published: a profile
// service that was down catches up from the event.
func TestUserDeletedErasesTheProfile(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, brokers := kafkatest.New(t)
	pool := eventstest.NewDB(t, "profile", profiledb.Migrations)
	store := profiledb.New(pool, events.NewOutbox("profile"))
	cache := profilecache.New(redistest.New(t), time.Minute)
	producer := kafkatest.Producer(t, brokers)
	produce := func(r *kgo.Record) {
		t.Helper()
		kafkatest.Produce(t, producer, r)
	}

	alice, bob := uuid.NewString(), uuid.NewString()
	produce(registered(uuid.NewString(), alice, "alice"))
	produce(registered(uuid.NewString(), bob, "bobby"))
	startConsumer(t, brokers, pool, store, cache)
	waittest.Until(t, "both profiles", func() bool {
		return pgtest.Count(t, pool, `SELECT count(*) FROM profiles WHERE user_id = ANY($1::uuid[])`, []string{alice, bob}) == 2
	})
	p, err := store.Get(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.Put(ctx, p); err != nil {
		t.Fatal(err)
	}

	deletion := uuid.NewString()
	produce(userDeleted(deletion, alice))
	waittest.Until(t, "alice's profile gone", func() bool {
		return pgtest.Count(t, pool, `SELECT count(*) FROM profiles WHERE user_id = $1`, alice) == 0
	})
	if n := pgtest.Count(t, pool, `SELECT count(*) FROM deleted_users WHERE user_id = $1`, alice); n != 1 {
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
	produce(userDeleted(deletion, alice))
	produce(userDeleted(uuid.NewString(), alice))
	produce(registered(uuid.NewString(), alice, "alice"))
	carol := uuid.NewString()
	marker := registered(uuid.NewString(), carol, "alice")
	marker.Key = []byte(alice) // same partition: handled after the records above
	produce(marker)
	waittest.Until(t, "carol's profile", func() bool {
		return pgtest.Count(t, pool, `SELECT count(*) FROM profiles WHERE user_id = $1`, carol) == 1
	})
	if n := pgtest.Count(t, pool, `SELECT count(*) FROM profiles WHERE user_id = $1`, alice); n != 0 {
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

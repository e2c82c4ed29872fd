package friendevents_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/platform/waittest"
	"github.com/parleyhq/parley/services/friend/internal/friend"
	"github.com/parleyhq/parley/services/friend/internal/frienddb"
	"github.com/parleyhq/parley/services/friend/internal/friendtest"
)

// TestUserDeletedErasesRelationships: a deleted user's friendships, requests (both ways) and
// blocks (both ways) go with their row; other people's stay; a redelivered deletion, a late
// ProfileUpdated or registration, and a call with an old access token bring nothing back. The
// consumer starts after the deletion was published: a friend service that was down catches up.
func TestUserDeletedErasesRelationships(t *testing.T) {
	_, brokers := kafkatest.New(t)
	pool := eventstest.NewDB(t, "friend", frienddb.Migrations)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := frienddb.New(pool, events.NewOutbox("friend"))
	svc := friend.NewService(store, friend.DefaultLimits)
	producer := kafkatest.Producer(t, brokers)

	gone, bob, cat, dan, eve := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	for _, id := range []string{gone, bob, cat, dan, eve} {
		if err := store.EnsureUser(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	befriend := func(a, b string) {
		t.Helper()
		res, err := svc.Send(ctx, a, b)
		must(err)
		_, err = svc.Accept(ctx, b, res.Request.ID)
		must(err)
	}
	befriend(gone, bob)
	befriend(bob, cat) // stays
	_, err := svc.Send(ctx, gone, cat)
	must(err)
	_, err = svc.Send(ctx, eve, gone)
	must(err)
	must(svc.Block(ctx, gone, dan))
	must(svc.Block(ctx, dan, gone)) // both ways
	must(svc.Block(ctx, eve, bob))  // stays

	rows := func() int {
		return pgtest.Count(t, pool, `SELECT
			(SELECT count(*) FROM users WHERE user_id = $1) +
			(SELECT count(*) FROM friend_requests WHERE from_user_id = $1 OR to_user_id = $1) +
			(SELECT count(*) FROM blocks WHERE blocker_id = $1 OR blocked_id = $1) +
			(SELECT count(*) FROM pairs WHERE user_lo = $1 OR user_hi = $1)`, gone)
	}
	if rows() == 0 {
		t.Fatal("setup: nothing to delete")
	}
	others := pgtest.Count(t, pool, `SELECT (SELECT count(*) FROM pairs WHERE friends_since IS NOT NULL AND $1 NOT IN (user_lo, user_hi)) +
		(SELECT count(*) FROM blocks WHERE $1 NOT IN (blocker_id, blocked_id))`, gone)

	deletion := uuid.NewString()
	friendtest.Produce(t, producer, topics.Auth, gone, deletion, &eventsv1.UserDeleted{UserId: gone, DeletedAt: timestamppb.Now()})
	startConsumer(t, brokers, pool, store)
	waittest.Until(t, "the deleted user's rows gone", func() bool { return rows() == 0 })
	if n := pgtest.Count(t, pool, `SELECT count(*) FROM deleted_users WHERE user_id = $1`, gone); n != 1 {
		t.Fatalf("%d tombstones, want 1", n)
	}
	if n := pgtest.Count(t, pool, `SELECT (SELECT count(*) FROM pairs WHERE friends_since IS NOT NULL AND $1 NOT IN (user_lo, user_hi)) +
		(SELECT count(*) FROM blocks WHERE $1 NOT IN (blocker_id, blocked_id))`, gone); n != others {
		t.Fatalf("other people's friendships and blocks: %d, want %d", n, others)
	}

	// Through the API: nobody sees the deleted user any more.
	friends, err := svc.ListFriends(ctx, bob, 0, "")
	must(err)
	if len(friends.Friends) != 1 || friends.Friends[0].User.UserID != cat {
		t.Fatalf("bob's friends %+v; want cat only", friends.Friends)
	}
	out, err := svc.ListRequests(ctx, eve, friend.Outgoing, 0, "")
	must(err)
	in, err := svc.ListRequests(ctx, cat, friend.Incoming, 0, "")
	must(err)
	if len(out.Requests) != 0 || len(in.Requests) != 0 {
		t.Fatalf("requests to or from the deleted user: %+v, %+v", out.Requests, in.Requests)
	}
	blocked, err := svc.ListBlocked(ctx, dan, 0, "")
	must(err)
	if len(blocked.Blocked) != 0 {
		t.Fatalf("dan's blocks %+v", blocked.Blocked)
	}
	if _, err := svc.Send(ctx, bob, gone); err == nil {
		t.Fatal("a request to the deleted user was accepted")
	}

	// Late and repeated events, then a marker on each topic proving they were handled.
	friendtest.Produce(t, producer, topics.Auth, gone, deletion, &eventsv1.UserDeleted{UserId: gone, DeletedAt: timestamppb.Now()})
	friendtest.Produce(t, producer, topics.Auth, gone, uuid.NewString(), &eventsv1.UserRegistered{UserId: gone, Nickname: "ghost"})
	friendtest.Produce(t, producer, topics.Profile, gone, uuid.NewString(), &eventsv1.ProfileUpdated{UserId: gone, Nickname: "ghost", Version: 99})
	m1, m2 := uuid.NewString(), uuid.NewString()
	friendtest.Produce(t, producer, topics.Auth, gone, uuid.NewString(), &eventsv1.UserRegistered{UserId: m1, Nickname: "marker1"})
	friendtest.Produce(t, producer, topics.Profile, gone, uuid.NewString(), &eventsv1.ProfileUpdated{UserId: m2, Nickname: "marker2", Version: 1})
	waitUser(t, pool, m1)
	waitUser(t, pool, m2)
	// Calls made with an access token from before the deletion are refused and record nothing.
	if err := store.EnsureUser(ctx, gone); !errors.Is(err, friend.ErrAccountDeleted) {
		t.Fatalf("EnsureUser of the deleted user: %v, want ErrAccountDeleted", err)
	}
	if _, err := svc.Send(ctx, gone, bob); !errors.Is(err, friend.ErrAccountDeleted) {
		t.Fatalf("a request from the deleted user: %v, want ErrAccountDeleted", err)
	}
	if err := svc.Block(ctx, gone, cat); !errors.Is(err, friend.ErrAccountDeleted) {
		t.Fatalf("a block by the deleted user: %v, want ErrAccountDeleted", err)
	}
	if n := rows(); n != 0 {
		t.Fatalf("%d rows of the deleted user came back", n)
	}
}

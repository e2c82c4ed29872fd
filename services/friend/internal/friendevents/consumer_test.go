package friendevents_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/waittest"
	"github.com/parleyhq/parley/services/friend/internal/friend"
	"github.com/parleyhq/parley/services/friend/internal/frienddb"
	"github.com/parleyhq/parley/services/friend/internal/friendevents"
	"github.com/parleyhq/parley/services/friend/internal/friendtest"
)

const wait = 30 * time.Second

type user struct {
	nickname, avatar, thumb string
	version                 int64
}

// waitUserVersion polls until id's row has profile version v and returns it.
func waitUserVersion(t *testing.T, pool *pgxpool.Pool, id string, v int64) user {
	t.Helper()
	var u user
	waittest.Until(t, fmt.Sprintf("user %s at profile version %d", id, v), func() bool {
		u = waitUser(t, pool, id)
		return u.version == v
	})
	return u
}

// waitUser polls until id's row exists and returns it.
func waitUser(t *testing.T, pool *pgxpool.Pool, id string) user {
	t.Helper()
	var u user
	waittest.UntilNil(t, "user "+id+" to be recorded", func() error {
		return pool.QueryRow(context.Background(),
			`SELECT nickname, coalesce(avatar_file_id::text, ''), avatar_thumbnail_url, profile_version FROM users WHERE user_id = $1`, id).
			Scan(&u.nickname, &u.avatar, &u.thumb, &u.version)
	})
	return u
}

// startConsumer runs the friend service's consumer (friendevents.Register on store) until the
// test ends.
func startConsumer(t *testing.T, brokers []string, pool *pgxpool.Pool, store *frienddb.Store) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := events.NewConsumer(events.ConsumerConfig{
		Brokers: brokers, Group: friendevents.Group, Topics: friendevents.Topics, Pool: pool, Logger: logger,
		RetryBackoff: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	friendevents.Register(c, store, logger)
	eventstest.Run(t, c)
}

func TestConsumerKeepsUsers(t *testing.T) {
	_, brokers := kafkatest.New(t)
	pool := eventstest.NewDB(t, "friend", frienddb.Migrations)
	store := frienddb.New(pool, events.NewOutbox("friend"))
	startConsumer(t, brokers, pool, store)
	producer := kafkatest.Producer(t, brokers)
	ctx := t.Context()

	// Every record goes under one key, so each topic's records arrive in order and a later
	// record proves the earlier ones were handled.
	const key = "k"
	u1, u2, u3, u4 := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()

	// A redelivered event (same ce_id) has no second effect, even with a different payload.
	reg := uuid.NewString()
	friendtest.Produce(t, producer, topics.Auth, key, reg, &eventsv1.UserRegistered{UserId: u1, Nickname: "asked"})
	friendtest.Produce(t, producer, topics.Auth, key, reg, &eventsv1.UserRegistered{UserId: u1, Nickname: "redelivered"})
	friendtest.Produce(t, producer, topics.Auth, key, uuid.NewString(), &eventsv1.UserRegistered{UserId: u2, Nickname: "marker"})
	waitUser(t, pool, u2)
	if got := waitUser(t, pool, u1); got != (user{nickname: "asked"}) {
		t.Fatalf("after a redelivery user is %+v; want the first delivery's nickname only", got)
	}

	// Profile versions: the highest wins, whatever the arrival order — the avatar's thumbnail URL
	// with the rest. ProfileUpdated alone also makes a user known.
	avatar, older := uuid.NewString(), uuid.NewString()
	thumb := "https://gw.example/media/files/" + avatar + "/64"
	friendtest.Produce(t, producer, topics.Profile, key, uuid.NewString(), &eventsv1.ProfileUpdated{UserId: u1, Nickname: "third",
		AvatarFileId: avatar, AvatarThumbnailUrl: thumb, Version: 3})
	friendtest.Produce(t, producer, topics.Profile, key, uuid.NewString(), &eventsv1.ProfileUpdated{UserId: u1, Nickname: "second",
		AvatarFileId: older, AvatarThumbnailUrl: "https://gw.example/media/files/" + older + "/64", Version: 2})
	friendtest.Produce(t, producer, topics.Profile, key, uuid.NewString(), &eventsv1.ProfileUpdated{UserId: u3, Nickname: "profiled", Version: 1, Created: true})
	if got := waitUser(t, pool, u3); got != (user{nickname: "profiled", version: 1}) {
		t.Fatalf("user known from ProfileUpdated only: %+v", got)
	}
	if got := waitUser(t, pool, u1); got != (user{nickname: "third", avatar: avatar, thumb: thumb, version: 3}) {
		t.Fatalf("after versions 3 then 2: %+v; want version 3 with its thumbnail URL", got)
	}

	// The lists show the URL as the event carried it: a request's other person and a friend.
	svc := friend.NewService(store, friend.DefaultLimits)
	if _, err := svc.Send(ctx, u3, u1); err != nil {
		t.Fatal(err)
	}
	out, err := svc.ListRequests(ctx, u3, friend.Outgoing, 0, "")
	if err != nil || len(out.Requests) != 1 || out.Requests[0].Other != (friend.UserSummary{UserID: u1, Nickname: "third", AvatarFileID: avatar, AvatarThumbnailURL: thumb}) {
		t.Fatalf("u3's outgoing requests = %+v, %v; want u1 with the avatar's thumbnail URL", out.Requests, err)
	}
	in, err := svc.ListRequests(ctx, u1, friend.Incoming, 0, "")
	if err != nil || len(in.Requests) != 1 || in.Requests[0].Other.AvatarThumbnailURL != "" {
		t.Fatalf("u1's incoming requests = %+v, %v; want u3 without an avatar", in.Requests, err)
	}
	if _, err := svc.Accept(ctx, u1, in.Requests[0].ID); err != nil {
		t.Fatal(err)
	}
	fs, err := svc.ListFriends(ctx, u3, 0, "")
	if err != nil || len(fs.Friends) != 1 || fs.Friends[0].User != (friend.UserSummary{UserID: u1, Nickname: "third", AvatarFileID: avatar, AvatarThumbnailURL: thumb}) {
		t.Fatalf("u3's friends = %+v, %v; want u1 with the avatar's thumbnail URL", fs.Friends, err)
	}

	// A URL that is not http(s) is not shown (the file id is kept); no avatar means no URL,
	// whatever the event says.
	friendtest.Produce(t, producer, topics.Profile, key, uuid.NewString(), &eventsv1.ProfileUpdated{UserId: u1, Nickname: "third",
		AvatarFileId: avatar, AvatarThumbnailUrl: "javascript:alert(1)", Version: 4})
	friendtest.Produce(t, producer, topics.Profile, key, uuid.NewString(), &eventsv1.ProfileUpdated{UserId: u3, Nickname: "profiled",
		AvatarThumbnailUrl: thumb, Version: 2})
	if got := waitUserVersion(t, pool, u3, 2); got != (user{nickname: "profiled", version: 2}) {
		t.Fatalf("a URL without an avatar: %+v; want no URL", got)
	}
	if got := waitUser(t, pool, u1); got != (user{nickname: "third", avatar: avatar, version: 4}) {
		t.Fatalf("a javascript: URL: %+v; want the file id kept and no URL", got)
	}
	if fs, err := svc.ListFriends(ctx, u3, 0, ""); err != nil || len(fs.Friends) != 1 || fs.Friends[0].User.AvatarThumbnailURL != "" {
		t.Fatalf("u3's friends after the bad URL = %+v, %v", fs, err)
	}

	// A late UserRegistered does not undo the profile's nickname.
	friendtest.Produce(t, producer, topics.Auth, key, uuid.NewString(), &eventsv1.UserRegistered{UserId: u1, Nickname: "late"})
	friendtest.Produce(t, producer, topics.Auth, key, uuid.NewString(), &eventsv1.UserRegistered{UserId: u4, Nickname: "marker2"})
	waitUser(t, pool, u4)
	if got := waitUser(t, pool, u1); got.nickname != "third" {
		t.Fatalf("after a late UserRegistered the nickname is %q; want the profile's", got.nickname)
	}

	// An avatar file id that is not a UUID shows no avatar (and so no URL); the nickname change
	// is kept, not dead-lettered with it.
	friendtest.Produce(t, producer, topics.Profile, key, uuid.NewString(), &eventsv1.ProfileUpdated{UserId: u1, Nickname: "fifth",
		AvatarFileId: "not-a-uuid", AvatarThumbnailUrl: thumb, Version: 5})
	if got := waitUserVersion(t, pool, u1, 5); got != (user{nickname: "fifth", version: 5}) {
		t.Fatalf("a malformed avatar file id: %+v; want the new nickname, no avatar and no URL", got)
	}
	if fs, err := svc.ListFriends(ctx, u3, 0, ""); err != nil || len(fs.Friends) != 1 || fs.Friends[0].User != (friend.UserSummary{UserID: u1, Nickname: "fifth"}) {
		t.Fatalf("u3's friends after the malformed avatar file id = %+v, %v; want u1 renamed, without an avatar", fs, err)
	}

	// An event naming no valid user goes to the dead-letter topic; the partition keeps flowing.
	bad := uuid.NewString()
	friendtest.Produce(t, producer, topics.Auth, key, bad, &eventsv1.UserRegistered{UserId: "not-a-uuid", Nickname: "x"})
	u5 := uuid.NewString()
	friendtest.Produce(t, producer, topics.Auth, key, uuid.NewString(), &eventsv1.UserRegistered{UserId: u5, Nickname: "after"})
	waitUser(t, pool, u5)
	dlq, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(events.DeadLetterTopic(topics.Auth, friendevents.Group)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	pollCtx, pollCancel := context.WithTimeout(context.Background(), wait)
	defer pollCancel()
	var dead *kgo.Record
	for dead == nil && pollCtx.Err() == nil {
		dlq.PollFetches(pollCtx).EachRecord(func(r *kgo.Record) { dead = r })
	}
	if dead == nil {
		t.Fatal("nothing on the dead-letter topic")
	}
	for _, h := range dead.Headers {
		if h.Key == events.HeaderID && string(h.Value) != bad {
			t.Fatalf("dead-lettered event %s; want %s", h.Value, bad)
		}
	}
}

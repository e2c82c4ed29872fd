package chatevents_test

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/platform/waittest"
	"github.com/parleyhq/parley/services/chat/internal/chat"
	"github.com/parleyhq/parley/services/chat/internal/chatcache"
	"github.com/parleyhq/parley/services/chat/internal/chatdb"
	"github.com/parleyhq/parley/services/chat/internal/chatevents"
)

// wait bounds everything the tests wait for; generous for a loaded 2-core machine.
const wait = 30 * time.Second

// startConsumer runs the chat service's consumer (chatevents.Register on store and cache) until
// the test ends.
func startConsumer(t *testing.T, brokers []string, pool *pgxpool.Pool, store *chatdb.Store, cache *chatcache.Cache) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	consumer, err := events.NewConsumer(events.ConsumerConfig{Brokers: brokers, Group: chatevents.Group, Topics: chatevents.Topics,
		Pool: pool, Logger: logger, RetryBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	chatevents.Register(consumer, store, cache, logger)
	eventstest.Run(t, consumer)
}

func pairKey(a, b string) string {
	lo, hi := chat.Pair(a, b)
	return lo + ":" + hi
}

// eventually polls cond until it holds (waittest.Until); an error from cond fails the test at once.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	waittest.Until(t, what, func() bool {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return ok
	})
}

func TestConsumerAppliesFriendAndProfileEvents(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, brokers := kafkatest.New(t)
	pool := eventstest.NewDB(t, "chat", chatdb.Migrations)
	store := chatdb.New(pool, events.NewOutbox("chat"))
	redis := redistest.New(t)
	cache := chatcache.New(redis, time.Minute)

	startConsumer(t, brokers, pool, store, cache)

	producer := kafkatest.Producer(t, brokers)
	produce := func(recs ...*kgo.Record) {
		t.Helper()
		kafkatest.Produce(t, producer, recs...)
	}

	alice, bob := uuid.NewString(), uuid.NewString()
	chatID := chat.ChatID(alice, bob)
	// A cached "not friends" from before the acceptance.
	if err := cache.Put(ctx, alice, bob, false); err != nil {
		t.Fatal(err)
	}

	// A poison event first: it is dead-lettered and the partition keeps flowing.
	produce(eventstest.Record(topics.Friend, pairKey(alice, bob), uuid.NewString(), &eventsv1.FriendAccepted{RequesterId: alice, AccepterId: alice}))
	// FriendAccepted, delivered three times (the relay's redelivery after a crash carries the same
	// ce_id), then the peers' profiles, an older version arriving last.
	accepted := eventstest.Record(topics.Friend, pairKey(alice, bob), uuid.NewString(), &eventsv1.FriendAccepted{
		RequestId: uuid.NewString(), RequesterId: alice, AccepterId: bob, AcceptedAt: timestamppb.Now(), AccepterNickname: "bob"})
	produce(accepted, accepted, accepted)
	avatar, older := uuid.NewString(), uuid.NewString()
	thumb := "https://gw.example/media/files/" + avatar + "/64"
	produce(
		eventstest.Record(topics.Profile, bob, uuid.NewString(), &eventsv1.ProfileUpdated{UserId: bob, Nickname: "bobby", Version: 2, UpdatedAt: timestamppb.Now(),
			AvatarFileId: avatar, AvatarThumbnailUrl: thumb}),
		eventstest.Record(topics.Profile, bob, uuid.NewString(), &eventsv1.ProfileUpdated{UserId: bob, Nickname: "bob", Version: 1, UpdatedAt: timestamppb.Now(),
			AvatarFileId: older, AvatarThumbnailUrl: "https://gw.example/media/files/" + older + "/64"}),
	)

	eventually(t, "chat created by FriendAccepted", func() (bool, error) {
		_, can, err := store.Access(ctx, alice, chatID)
		return can, err
	})
	eventually(t, "older ProfileUpdated handled (ignored)", func() (bool, error) {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM inbox WHERE consumer_group = 'chat'`).Scan(&n)
		return n == 3, err // FriendAccepted once and both profiles; the poison event never reaches the inbox
	})
	var chats, members, inbox int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM chats), (SELECT count(*) FROM chat_members),
		(SELECT count(*) FROM inbox WHERE event_id = $1)`, string(accepted.Headers[0].Value)).Scan(&chats, &members, &inbox); err != nil {
		t.Fatal(err)
	}
	if chats != 1 || members != 2 || inbox != 1 {
		t.Fatalf("after a thrice-delivered FriendAccepted: %d chats, %d members, %d inbox rows; want 1, 2, 1", chats, members, inbox)
	}
	if _, found, err := cache.Get(ctx, alice, bob); err != nil || found {
		t.Fatalf("cached friendship after FriendAccepted: found %v, %v; want it dropped", found, err)
	}
	c, err := store.GetChat(ctx, alice, chatID)
	if err != nil || c.Peer != (chat.Peer{UserID: bob, Nickname: "bobby", AvatarFileID: avatar, AvatarThumbnailURL: thumb}) || !c.CanSend {
		t.Fatalf("alice's chat %+v, %v; want peer bobby with version 2's avatar and thumbnail URL, can_send", c, err)
	}

	// A thumbnail URL that is not http(s) is not shown (the rest of the profile is kept); without
	// an avatar there is no URL, whatever the event says.
	produce(eventstest.Record(topics.Profile, bob, uuid.NewString(), &eventsv1.ProfileUpdated{UserId: bob, Nickname: "bobby", Version: 3, UpdatedAt: timestamppb.Now(),
		AvatarFileId: avatar, AvatarThumbnailUrl: "javascript:alert(1)"}))
	produce(eventstest.Record(topics.Profile, alice, uuid.NewString(), &eventsv1.ProfileUpdated{UserId: alice, Nickname: "alice", Version: 1, UpdatedAt: timestamppb.Now(),
		AvatarThumbnailUrl: thumb}))
	eventually(t, "bob's version 3", func() (bool, error) {
		c, err := store.GetChat(ctx, alice, chatID)
		if err != nil || c.Peer.AvatarThumbnailURL == thumb {
			return false, err
		}
		if c.Peer != (chat.Peer{UserID: bob, Nickname: "bobby", AvatarFileID: avatar}) {
			return false, fmt.Errorf("bob after a javascript: URL: %+v; want the file id kept and no URL", c.Peer)
		}
		return true, nil
	})
	eventually(t, "alice's profile", func() (bool, error) {
		c, err := store.GetChat(ctx, bob, chatID)
		if err != nil || c.Peer.Nickname != "alice" {
			return false, err
		}
		if c.Peer.AvatarThumbnailURL != "" || c.Peer.AvatarFileID != "" {
			return false, fmt.Errorf("alice with a URL but no avatar: %+v; want no URL", c.Peer)
		}
		return true, nil
	})

	// An avatar file id that is not a UUID shows no avatar (and so no URL); the nickname change
	// is kept, not dead-lettered with it.
	produce(eventstest.Record(topics.Profile, bob, uuid.NewString(), &eventsv1.ProfileUpdated{UserId: bob, Nickname: "robert", Version: 4, UpdatedAt: timestamppb.Now(),
		AvatarFileId: "not-a-uuid", AvatarThumbnailUrl: thumb}))
	eventually(t, "bob's version 4", func() (bool, error) {
		c, err := store.GetChat(ctx, alice, chatID)
		if err != nil || c.Peer.Nickname != "robert" {
			return false, err
		}
		if c.Peer != (chat.Peer{UserID: bob, Nickname: "robert"}) {
			return false, fmt.Errorf("bob after a malformed avatar file id: %+v; want the new nickname, no avatar and no URL", c.Peer)
		}
		return true, nil
	})

	// FriendRemoved (a block looks the same): the chat stays, sending stops.
	produce(eventstest.Record(topics.Friend, pairKey(alice, bob), uuid.NewString(), &eventsv1.FriendRemoved{
		UserId: bob, FriendUserId: alice, Reason: "blocked", RemovedAt: timestamppb.Now()}))
	eventually(t, "FriendRemoved applied", func() (bool, error) {
		p, can, err := store.Access(ctx, alice, chatID)
		return p && !can, err
	})
	id, _ := uuid.NewV7()
	if _, _, err := store.Send(ctx, chat.NewMessage{ID: id.String(), ChatID: chatID, SenderID: alice, ClientMsgID: uuid.NewString(), Text: "still there?"}); !errors.Is(err, chat.ErrNotFriends) {
		t.Fatalf("send after FriendRemoved: %v; want ErrNotFriends", err)
	}

	// The poison event went to the group's dead-letter topic.
	dlq, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(events.DeadLetterTopic(topics.Friend, chatevents.Group)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	pollCtx, pollCancel := context.WithTimeout(ctx, wait)
	defer pollCancel()
	fetches := dlq.PollRecords(pollCtx, 1)
	if recs := fetches.Records(); len(recs) != 1 {
		t.Fatalf("dead-letter topic: %d records (%v); want the poison FriendAccepted", len(recs), fetches.Err())
	}
}

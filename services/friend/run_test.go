package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	friendv1 "github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1/friendv1connect"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/platform/startup"
	"github.com/parleyhq/parley/platform/waittest"
	"github.com/parleyhq/parley/services/friend/internal/friendtest"
)

const wait = 30 * time.Second

// runOn is main's start-up, with an optional listener already open (tests listen on port 0).
func runOn(ctx context.Context, logger *slog.Logger, args []string, ln net.Listener) error {
	return startup.Run(ctx, logger, args, ln, service())
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func withToken[T any](msg *T, token string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	req.Header().Set("Authorization", "Bearer "+token)
	return req
}

// The whole service: users arrive as UserRegistered on Kafka, requests are made and accepted
// over Connect with tokens checked against a JWKS endpoint, and the events reach Kafka through
// the outbox relay.
func TestRunServesConsumesAndPublishes(t *testing.T) {
	_, brokers := kafkatest.New(t)
	tokens := authntest.New(t) // stands in for the auth service (another module)
	t.Setenv("DATABASE_URL", pgtest.URL(t, pgtest.New(t)))
	t.Setenv("KAFKA_BROKERS", strings.Join(brokers, ","))
	t.Setenv("AUTH_JWKS_URL", tokens.JWKSURL())

	base, stop := waittest.StartService(t, func(ctx context.Context, ln net.Listener) error {
		return runOn(ctx, quietLogger(), nil, ln)
	})
	ctx := t.Context()

	producer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	alice, bob := uuid.NewString(), uuid.NewString()
	friendtest.Produce(t, producer, topics.Auth, alice, uuid.NewString(), &eventsv1.UserRegistered{UserId: alice, Nickname: "alice"})
	friendtest.Produce(t, producer, topics.Auth, bob, uuid.NewString(), &eventsv1.UserRegistered{UserId: bob, Nickname: "bob"})

	client := friendv1connect.NewFriendServiceClient(http.DefaultClient, base)
	// Bob is unknown until the consumer has recorded him.
	var sent *connect.Response[friendv1.SendFriendRequestResponse]
	waittest.Until(t, "bob to be known", func() bool {
		sent, err = client.SendFriendRequest(ctx, withToken(&friendv1.SendFriendRequestRequest{UserId: bob}, tokens.Token(t, alice)))
		if err != nil && connect.CodeOf(err) != connect.CodeNotFound {
			t.Fatalf("SendFriendRequest: %v", err)
		}
		return err == nil
	})
	requestID := sent.Msg.GetRequest().GetRequestId()
	if _, err := client.AcceptFriendRequest(ctx, withToken(&friendv1.AcceptFriendRequestRequest{RequestId: requestID}, tokens.Token(t, bob))); err != nil {
		t.Fatal(err)
	}

	consumer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.Friend), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pollCtx, pollCancel := context.WithTimeout(ctx, wait)
	defer pollCancel()
	got := map[string]*kgo.Record{}
	for len(got) < 2 && pollCtx.Err() == nil {
		consumer.PollFetches(pollCtx).EachRecord(func(r *kgo.Record) {
			for _, h := range r.Headers {
				if h.Key == "ce_type" {
					got[string(h.Value)] = r
				}
			}
		})
	}
	reqSent, accepted := got["parley.events.v1.FriendRequestSent"], got["parley.events.v1.FriendAccepted"]
	if reqSent == nil || accepted == nil {
		t.Fatalf("records on %s: %v; want FriendRequestSent and FriendAccepted", topics.Friend, got)
	}
	var rs eventsv1.FriendRequestSent
	if err := proto.Unmarshal(reqSent.Value, &rs); err != nil || string(reqSent.Key) != bob ||
		rs.GetRequestId() != requestID || rs.GetFromNickname() != "alice" {
		t.Fatalf("FriendRequestSent %v key %q (%v)", &rs, reqSent.Key, err)
	}
	pair := min(alice, bob) + ":" + max(alice, bob)
	var acc eventsv1.FriendAccepted
	if err := proto.Unmarshal(accepted.Value, &acc); err != nil || string(accepted.Key) != pair ||
		acc.GetRequesterId() != alice || acc.GetAccepterId() != bob || acc.GetAccepterNickname() != "bob" {
		t.Fatalf("FriendAccepted %v key %q (%v); want key %s", &acc, accepted.Key, err, pair)
	}

	stop()
}

func TestMigrateSubcommand(t *testing.T) {
	pool := pgtest.New(t)
	t.Setenv("DATABASE_URL", pgtest.URL(t, pool))
	if err := runOn(context.Background(), quietLogger(), []string{"migrate"}, nil); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(context.Background(),
		`SELECT count(*) FROM information_schema.tables WHERE table_name IN ('users', 'pairs', 'friend_requests', 'blocks', 'outbox', 'inbox')`).Scan(&n); err != nil || n != 6 {
		t.Fatalf("%d of the 6 tables exist after migrate (%v)", n, err)
	}
	if err := pool.QueryRow(context.Background(),
		`SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'avatar_thumbnail_url'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("users.avatar_thumbnail_url after migrate: %d (%v)", n, err)
	}
	if err := runOn(context.Background(), quietLogger(), []string{"bogus"}, nil); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("unknown subcommand: %v", err)
	}
}

package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	profilev1 "github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1/profilev1connect"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/platform/startup"
	"github.com/parleyhq/parley/platform/waittest"
)

// runOn is main's start-up, with an optional listener already open (tests listen on port 0).
func runOn(ctx context.Context, logger *slog.Logger, args []string, ln net.Listener) error {
	return startup.Run(ctx, logger, args, ln, service())
}

// TestRun starts the whole service as main does — migrations, server, outbox relay, consumer —
// against a fresh database, an in-process Kafka-protocol broker, Redis and a JWKS endpoint, then
// registers a user through Kafka and reads the profile back through the API.
func TestRun(t *testing.T) {
	pool := pgtest.New(t) // an empty database: run applies the migrations
	_, brokers := kafkatest.New(t)

	iss := authntest.New(t)

	t.Setenv("DATABASE_URL", pgtest.URL(t, pool))
	t.Setenv("KAFKA_BROKERS", brokers[0])
	t.Setenv("REDIS_URL", "redis://"+redistest.Addr())
	t.Setenv("AUTH_JWKS_URL", iss.JWKSURL())
	t.Setenv("MEDIA_URL", "http://127.0.0.1:1")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := runOn(ctx, logger, []string{"migrate"}, nil); err != nil {
		t.Fatalf("profile migrate: %v", err)
	}
	var tables int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename IN ('profiles', 'outbox', 'inbox')`).Scan(&tables); err != nil || tables != 3 {
		t.Fatalf("after migrate: %d tables, %v", tables, err)
	}
	if err := runOn(ctx, logger, []string{"bogus"}, nil); err == nil {
		t.Fatal("unknown argument accepted")
	}

	base, stop := waittest.StartService(t, func(ctx context.Context, ln net.Listener) error {
		return runOn(ctx, logger, nil, ln)
	})

	// Register a user the way the auth service's relay would publish it.
	userID := uuid.NewString()
	payload, _ := proto.Marshal(&eventsv1.UserRegistered{UserId: userID, Nickname: "runner", RegisteredAt: timestamppb.Now(), Method: "password"})
	producer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	if err := producer.ProduceSync(ctx, &kgo.Record{Topic: topics.Auth, Key: []byte(userID), Value: payload, Headers: []kgo.RecordHeader{
		{Key: events.HeaderID, Value: []byte(uuid.NewString())},
		{Key: events.HeaderType, Value: []byte("parley.events.v1.UserRegistered")},
		{Key: events.HeaderSource, Value: []byte("auth")},
		{Key: events.HeaderSpecVersion, Value: []byte(events.SpecVersion)},
	}}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	token := iss.Token(t, userID)
	client := profilev1connect.NewProfileServiceClient(server.H2CClient(), base, connect.WithGRPC()) // gRPC over h2c
	var got *profilev1.Profile
	waittest.Until(t, "the profile through the API", func() bool {
		req := connect.NewRequest(&profilev1.GetProfileRequest{})
		req.Header().Set("Authorization", "Bearer "+token)
		res, err := client.GetProfile(ctx, req)
		if err != nil {
			if connect.CodeOf(err) != connect.CodeNotFound {
				t.Fatalf("GetProfile: %v", err)
			}
			return false
		}
		got = res.Msg.GetProfile()
		return true
	})
	if got.GetNickname() != "runner" || got.GetNicknameStatus() != profilev1.NicknameStatus_NICKNAME_STATUS_CHOSEN {
		t.Fatalf("profile: %v", got)
	}

	// The relay publishes ProfileUpdated(created) to the profile topic.
	consumer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.Profile), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	waittest.Until(t, "ProfileUpdated on "+topics.Profile, func() bool {
		pollCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		found := false
		consumer.PollFetches(pollCtx).EachRecord(func(r *kgo.Record) {
			var ev eventsv1.ProfileUpdated
			if string(r.Key) == userID && proto.Unmarshal(r.Value, &ev) == nil && ev.GetCreated() && ev.GetNickname() == "runner" {
				found = true
			}
		})
		return found
	})

	stop()
}

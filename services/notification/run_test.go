package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	notificationv1 "github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1/notificationv1connect"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/platform/startup"
	"github.com/parleyhq/parley/platform/waittest"
	"github.com/parleyhq/parley/services/notification/internal/mailpittest"
	"github.com/parleyhq/parley/services/notification/internal/webpush"
)

// runOn is main's start-up, with an optional listener already open (tests listen on port 0).
func runOn(ctx context.Context, logger *slog.Logger, args []string, ln net.Listener) error {
	return startup.Run(ctx, logger, args, ln, service())
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestRunConsumesEventsEmailsAndServes(t *testing.T) {
	_, brokers := kafkatest.New(t)
	mp := mailpittest.Start(t, mailpittest.Options{})
	iss := authntest.New(t)
	pool := pgtest.New(t)
	t.Setenv("DATABASE_URL", pgtest.URL(t, pool))
	t.Setenv("KAFKA_BROKERS", strings.Join(brokers, ","))
	t.Setenv("REDIS_URL", "redis://"+redistest.Addr())
	t.Setenv("SMTP_URL", "smtp://"+mp.SMTPAddr)
	t.Setenv("EMAIL_FROM", "Parley Test <robot@parley.test>")
	t.Setenv("PUBLIC_WEB_URL", "https://parley.example")
	t.Setenv("AUTH_JWKS_URL", iss.JWKSURL())
	t.Setenv("INTERNAL_API_TOKEN", "internal-secret")
	t.Setenv("EMAIL_POLL_INTERVAL", "50ms")
	vapidKey := filepath.Join(t.TempDir(), "notification", "vapid-key")
	t.Setenv("PUSH_VAPID_KEY_FILE", vapidKey)
	t.Setenv("PUSH_GENERATE_VAPID_KEY", "true")
	base, stop := waittest.StartService(t, func(ctx context.Context, ln net.Listener) error {
		return runOn(ctx, quietLogger(), nil, ln)
	})
	ctx := t.Context()

	// Events in: a registration (topics are read independently, so wait for it to be consumed),
	// then a friend request for that user.
	alice, bob := uuid.NewString(), uuid.NewString()
	produce(t, brokers, record(topics.Auth, bob, &eventsv1.UserRegistered{UserId: bob, Nickname: "bob", Email: "bob@example.com", EmailVerified: true, RegisteredAt: timestamppb.Now()}))
	waittest.UntilNil(t, "the registration to be consumed", func() error {
		var known int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM recipients WHERE user_id = $1 AND email = 'bob@example.com'`, bob).Scan(&known); err != nil {
			return err
		}
		if known == 0 {
			return errors.New("bob is not a known recipient yet")
		}
		return nil
	})
	produce(t, brokers, record(topics.Friend, bob, &eventsv1.FriendRequestSent{RequestId: uuid.NewString(), FromUserId: alice, ToUserId: bob, FromNickname: "alice"}))

	// Email out, through SMTP, from EMAIL_FROM, linking to PUBLIC_WEB_URL.
	msgs := mp.WaitForMessages(t, 1)
	m := mp.Message(t, msgs[0].ID)
	if m.From.Address != "robot@parley.test" || m.From.Name != "Parley Test" || m.To[0].Address != "bob@example.com" ||
		!strings.HasSuffix(m.MessageID, "@parley.test") || !strings.Contains(m.Text, "https://parley.example/friends/requests") || m.HTML == "" {
		t.Fatalf("email %+v", m)
	}

	// The API, with a token verified through AUTH_JWKS_URL.
	client := notificationv1connect.NewNotificationServiceClient(http.DefaultClient, base)
	req := connect.NewRequest(&notificationv1.ListNotificationsRequest{})
	req.Header().Set("Authorization", "Bearer "+iss.Token(t, bob))
	list, err := client.ListNotifications(ctx, req)
	if err != nil || len(list.Msg.GetNotifications()) != 1 || list.Msg.GetNotifications()[0].GetTitle() != "alice sent you a friend request" {
		t.Fatalf("ListNotifications = %v, %v", list, err)
	}
	// The VAPID key generated into PUSH_VAPID_KEY_FILE, served to browsers.
	key, _, err := webpush.LoadVAPIDKey(vapidKey, false)
	if err != nil {
		t.Fatal(err)
	}
	kreq := connect.NewRequest(&notificationv1.GetPushPublicKeyRequest{})
	kreq.Header().Set("Authorization", "Bearer "+iss.Token(t, bob))
	if res, err := client.GetPushPublicKey(ctx, kreq); err != nil || res.Msg.GetPublicKey() != key.PublicKey() {
		t.Fatalf("GetPushPublicKey = %v, %v; want the key in %s", res, err, vapidKey)
	}
	// Notify with INTERNAL_API_TOKEN.
	nreq := connect.NewRequest(&notificationv1.NotifyRequest{UserId: bob, Kind: notificationv1.NotificationKind_NOTIFICATION_KIND_SYSTEM,
		Title: "Welcome to Parley", IdempotencyKey: "run-test"})
	nreq.Header().Set("X-Parley-Internal-Token", "internal-secret")
	if res, err := client.Notify(ctx, nreq); err != nil || res.Msg.GetNotification() == nil || !res.Msg.GetEmailQueued() {
		t.Fatalf("Notify = %v, %v", res, err)
	}

	// NotificationSent out, through the outbox relay.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.Notification), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pollCtx, pollCancel := context.WithTimeout(ctx, 30*time.Second)
	defer pollCancel()
	var got []*eventsv1.NotificationSent
	for len(got) < 2 && pollCtx.Err() == nil {
		cl.PollFetches(pollCtx).EachRecord(func(r *kgo.Record) {
			var ev eventsv1.NotificationSent
			if err := proto.Unmarshal(r.Value, &ev); err == nil && string(r.Key) == bob {
				got = append(got, &ev)
			}
		})
	}
	if len(got) != 2 || got[1].GetUnreadCount() != 2 || got[1].GetKind() != "system" {
		t.Fatalf("NotificationSent events %v; want two for bob, the second with unread_count 2", got)
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
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM information_schema.tables
		WHERE table_name IN ('notifications', 'recipients', 'digests', 'email_deliveries', 'outbox', 'inbox')`).Scan(&n); err != nil || n != 6 {
		t.Fatalf("%d of the 6 tables exist after migrate (%v)", n, err)
	}
	if err := runOn(context.Background(), quietLogger(), []string{"bogus"}, nil); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("unknown subcommand: %v", err)
	}
}

func record(topic, key string, msg proto.Message) *kgo.Record {
	payload, _ := proto.Marshal(msg)
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: payload, Headers: []kgo.RecordHeader{
		{Key: events.HeaderID, Value: []byte(uuid.NewString())},
		{Key: events.HeaderType, Value: []byte(msg.ProtoReflect().Descriptor().FullName())},
		{Key: events.HeaderSource, Value: []byte("test")},
		{Key: events.HeaderTime, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
		{Key: events.HeaderSpecVersion, Value: []byte(events.SpecVersion)},
	}}
}

func produce(t *testing.T, brokers []string, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

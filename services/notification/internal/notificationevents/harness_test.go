package notificationevents_test

import (
	"context"
	"io"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/rueidis"
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
	"github.com/parleyhq/parley/services/notification/internal/mailer"
	"github.com/parleyhq/parley/services/notification/internal/mailpittest"
	"github.com/parleyhq/parley/services/notification/internal/notification"
	"github.com/parleyhq/parley/services/notification/internal/notificationdb"
	"github.com/parleyhq/parley/services/notification/internal/notificationevents"
	"github.com/parleyhq/parley/services/notification/internal/presence"
)

// harness runs the service's event side as run.go wires it — consumer, outbox relay and email
// dispatcher — against a fresh database, an in-process Kafka-protocol broker, Redis and a real
// SMTP server (mailpit).
type harness struct {
	t       *testing.T
	ctx     context.Context
	brokers []string
	// producer writes the events the tests publish (produce).
	producer *kgo.Client
	pool     *pgxpool.Pool
	svc      *notification.Service
	mail     *mailpittest.Server
	redis    rueidis.Client
}

func start(t *testing.T, digestDelay time.Duration) *harness {
	t.Helper()
	ctx := context.Background()
	_, brokers := kafkatest.New(t)
	pool := eventstest.NewDB(t, "notification", notificationdb.Migrations)
	mp := mailpittest.Start(t, mailpittest.Options{})
	redis := redistest.New(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	store := notificationdb.New(pool, events.NewOutbox("notification"))
	emails, err := notification.NewEmails("http://localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := notification.NewService(notification.Config{Store: store, Emails: emails, MessageIDDomain: "parley.test",
		DigestDelay: digestDelay, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	sender, err := mailer.New("smtp://"+mp.SMTPAddr, mailer.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	disp, err := notification.NewDispatcher(notification.DispatcherConfig{
		Service: svc, Store: store, Presence: presence.New(redis, logger), Logger: logger,
		Mailer:       &mailer.Notifications{Sender: sender, From: mail.Address{Name: "Parley", Address: "no-reply@parley.test"}},
		PollInterval: 20 * time.Millisecond, OfflineAfter: 5 * time.Minute, SendTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := events.NewConsumer(events.ConsumerConfig{Brokers: brokers, Group: notificationevents.Group,
		Topics: notificationevents.Topics, Pool: pool, Logger: logger, RetryBackoff: 20 * time.Millisecond, Partitions: 3,
		// kfake sometimes leaves a fetch waiting its whole max wait (5s by default) after a produce.
		ClientOpts: []kgo.Opt{kgo.FetchMaxWait(100 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	notificationevents.Register(consumer, svc, store)
	relay, err := events.NewRelay(events.RelayConfig{Pool: pool, Brokers: brokers, Logger: logger, PollInterval: 50 * time.Millisecond, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{consumer.Run, relay.Run, disp.Run} {
		wg.Go(func() {
			if err := run(runCtx); err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return &harness{t: t, ctx: ctx, brokers: brokers, producer: kafkatest.Producer(t, brokers), pool: pool, svc: svc, mail: mp, redis: redis}
}

func (h *harness) produce(recs ...*kgo.Record) {
	h.t.Helper()
	kafkatest.Produce(h.t, h.producer, recs...)
}

// register publishes UserRegistered for a new user with address <nick>@example.com.
func (h *harness) register(nick string) string {
	id := uuid.NewString()
	h.produce(eventstest.Record(topics.Auth, id, uuid.NewString(), &eventsv1.UserRegistered{
		UserId: id, Nickname: nick, Email: nick + "@example.com", EmailVerified: true, Method: "password", RegisteredAt: timestamppb.Now()}))
	return id
}

// waitKnown waits until the users' registrations have been consumed.
func (h *harness) waitKnown(ids ...string) {
	h.t.Helper()
	waittest.Until(h.t, "registrations consumed", func() bool {
		return h.count(`SELECT count(*) FROM recipients WHERE user_id = ANY($1::uuid[]) AND email <> ''`, ids) == len(ids)
	})
}

func messageSent(chat, from, to string, seq int64, text string) *eventsv1.MessageSent {
	return &eventsv1.MessageSent{ChatId: chat, MessageId: uuid.NewString(), Seq: seq, SenderId: from, RecipientId: to,
		Text: text, ClientMsgId: uuid.NewString(), SentAt: timestamppb.Now()}
}

func (h *harness) count(sql string, args ...any) int {
	h.t.Helper()
	return pgtest.Count(h.t, h.pool, sql, args...)
}

func (h *harness) notifications(userID string) int {
	return h.count(`SELECT count(*) FROM notifications WHERE user_id = $1`, userID)
}

// enableMessageEmail switches message emails on for the users (off by default).
func (h *harness) enableMessageEmail(ids ...string) {
	h.t.Helper()
	for _, id := range ids {
		if _, err := h.svc.UpdatePreferences(h.ctx, id, notification.PreferenceChanges{
			Kinds: []notification.KindPreference{{Kind: notification.KindMessage, InApp: true, Email: true}}}); err != nil {
			h.t.Fatal(err)
		}
	}
}

// mailTo returns the messages mailpit received for address.
func (h *harness) mailTo(address string) []mailpittest.Summary {
	var out []mailpittest.Summary
	for _, m := range h.mail.Messages(h.t) {
		for _, to := range m.To {
			if to.Address == address {
				out = append(out, m)
			}
		}
	}
	return out
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

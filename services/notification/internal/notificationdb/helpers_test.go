package notificationdb_test

import (
	"context"
	"io"
	"log/slog"
	"net/mail"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/rueidis"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/services/notification/internal/mailer"
	"github.com/parleyhq/parley/services/notification/internal/mailpittest"
	"github.com/parleyhq/parley/services/notification/internal/notification"
	"github.com/parleyhq/parley/services/notification/internal/notificationdb"
	"github.com/parleyhq/parley/services/notification/internal/presence"
)

// clock is a settable clock, so mutes can expire and leases run out without waiting.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     *testing.T
	ctx   context.Context
	pool  *pgxpool.Pool
	store *notificationdb.Store
	svc   *notification.Service
	cfg   notification.Config // what svc was made from
	clock *clock
	// Set by withDispatcher.
	redis rueidis.Client
	mail  *mailpittest.Server
	disp  *notification.Dispatcher
}

const digestDelay = 2 * time.Minute

// newEnv is a service on a fresh database; options change its configuration (the push channel).
func newEnv(t *testing.T, options ...func(*notification.Config)) *env {
	t.Helper()
	pool := eventstest.NewDB(t, "notification", notificationdb.Migrations)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := notificationdb.New(pool, events.NewOutbox("notification"))
	emails, err := notification.NewEmails("http://localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now().UTC().Truncate(time.Microsecond)}
	cfg := notification.Config{Store: store, Emails: emails, MessageIDDomain: "parley.test",
		DigestDelay: digestDelay, Logger: logger, Now: clk.Now}
	for _, o := range options {
		o(&cfg)
	}
	svc, err := notification.NewService(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: context.Background(), pool: pool, store: store, svc: svc, cfg: cfg, clock: clk}
}

// withDispatcher gives e an email dispatcher as run.go builds it: presence from Redis (the test
// writes the keys as a gateway would) and SMTP to a real mail server (mailpit, read back through
// its HTTP API; its chaos switch makes it refuse mail). Only the clock is the test's.
func (e *env) withDispatcher() *env {
	e.t.Helper()
	e.redis = redistest.New(e.t)
	e.mail = mailpittest.Start(e.t, mailpittest.Options{Chaos: true})
	e.disp = e.dispatcher(e.redis)
	return e
}

func (e *env) dispatcher(redis rueidis.Client) *notification.Dispatcher {
	e.t.Helper()
	return e.dispatcherOver(redis, e.store, 0)
}

// dispatcherWith is a dispatcher over store (a spy around the real one) sending concurrency at once.
func (e *env) dispatcherWith(store notification.Store, concurrency int) *notification.Dispatcher {
	e.t.Helper()
	if e.redis == nil {
		e.redis = redistest.New(e.t)
		e.mail = mailpittest.Start(e.t, mailpittest.Options{Chaos: true})
	}
	return e.dispatcherOver(e.redis, store, concurrency)
}

func (e *env) dispatcherOver(redis rueidis.Client, store notification.Store, concurrency int) *notification.Dispatcher {
	e.t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	sender, err := mailer.New("smtp://"+e.mail.SMTPAddr, mailer.WithTimeout(10*time.Second))
	if err != nil {
		e.t.Fatal(err)
	}
	d, err := notification.NewDispatcher(notification.DispatcherConfig{
		Service: e.svc, Store: store, Presence: presence.New(redis, logger), Logger: logger, Concurrency: concurrency,
		Mailer:       &mailer.Notifications{Sender: sender, From: mail.Address{Name: "Parley", Address: "no-reply@parley.test"}},
		OfflineAfter: 5 * time.Minute, SendTimeout: time.Minute, RetryBackoff: time.Minute, MaxAttempts: 3,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// seen records userID as last seen at t, as the gateways do.
func (e *env) seen(userID string, t time.Time) {
	e.t.Helper()
	if err := presence.Touch(e.ctx, e.redis, userID, t, time.Hour); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { e.redis.Do(context.Background(), e.redis.B().Del().Key(presence.Key(userID)).Build()) })
}

// sentMail is an email as the SMTP server received it.
type sentMail struct {
	To, Subject, Text, HTML, MessageID string
}

// emails returns what the SMTP server received, oldest first.
func (e *env) emails() []sentMail {
	e.t.Helper()
	list := e.mail.Messages(e.t)
	out := make([]sentMail, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- {
		m := e.mail.Message(e.t, list[i].ID)
		out = append(out, sentMail{To: m.To[0].Address, Subject: m.Subject, Text: m.Text, HTML: m.HTML, MessageID: m.MessageID})
	}
	return out
}

// event runs an event use case in a transaction, as the consumer does.
func (e *env) event(fn func(tx notification.Tx) error) {
	e.t.Helper()
	if err := e.store.InTx(e.ctx, fn); err != nil {
		e.t.Fatal(err)
	}
}

// user registers a user with an email address and nickname.
func (e *env) user(nick string) string {
	e.t.Helper()
	id := uuid.NewString()
	e.event(func(tx notification.Tx) error {
		return e.svc.Registered(e.ctx, tx, id, nick+"@example.com", nick, true)
	})
	return id
}

func (e *env) message(chat, from, to string, seq int64, text string) {
	e.t.Helper()
	e.event(func(tx notification.Tx) error {
		return e.svc.MessageSent(e.ctx, tx, notification.Message{ChatID: chat, MessageID: uuid.NewString(), Seq: seq,
			SenderID: from, RecipientID: to, Text: text, SentAt: e.clock.Now()})
	})
}

func (e *env) list(userID string, unreadOnly bool) []notification.Notification {
	e.t.Helper()
	p, err := e.svc.List(e.ctx, userID, 100, "", unreadOnly)
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Notifications
}

// sent returns the NotificationSent events in the outbox, in order.
func (e *env) sent() []*eventsv1.NotificationSent {
	e.t.Helper()
	rows, err := e.pool.Query(e.ctx, `SELECT payload FROM outbox WHERE ce_type = 'parley.events.v1.NotificationSent' ORDER BY id`)
	if err != nil {
		e.t.Fatal(err)
	}
	payloads, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*eventsv1.NotificationSent
	for _, p := range payloads {
		var ev eventsv1.NotificationSent
		if err := proto.Unmarshal(p, &ev); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, &ev)
	}
	return out
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	return pgtest.Count(e.t, e.pool, sql, args...)
}

func (e *env) queued(userID string) int {
	return e.count(`SELECT count(*) FROM email_deliveries WHERE user_id = $1`, userID)
}

func (e *env) setPrefs(userID string, c notification.PreferenceChanges) {
	e.t.Helper()
	if _, err := e.svc.UpdatePreferences(e.ctx, userID, c); err != nil {
		e.t.Fatal(err)
	}
}

func bptr(b bool) *bool { return &b }

package notificationdb_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/services/notification/internal/notification"
	"github.com/parleyhq/parley/services/notification/internal/notificationdb"
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

// presence is a stand-in for the gateways' Redis presence keys (presence.Redis is tested against
// Redis in its own package).
type presence struct {
	mu   sync.Mutex
	seen map[string]time.Time
	err  error
}

func (p *presence) LastSeen(_ context.Context, ids []string) (map[string]time.Time, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return nil, p.err
	}
	out := map[string]time.Time{}
	for _, id := range ids {
		if t, ok := p.seen[id]; ok {
			out[id] = t
		}
	}
	return out, nil
}

func (p *presence) set(id string, t time.Time) {
	p.mu.Lock()
	p.seen[id] = t
	p.mu.Unlock()
}

// outbox is a stand-in Mailer recording what it was asked to send (the SMTP mailer is tested
// against mailpit in its package and end to end in notificationevents).
type outboxMailer struct {
	mu   sync.Mutex
	sent []notification.Email
	fail error
}

func (m *outboxMailer) Send(_ context.Context, e notification.Email) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.sent = append(m.sent, e)
	return nil
}

func (m *outboxMailer) emails() []notification.Email {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]notification.Email(nil), m.sent...)
}

type env struct {
	t        *testing.T
	ctx      context.Context
	pool     *pgxpool.Pool
	store    *notificationdb.Store
	svc      *notification.Service
	clock    *clock
	presence *presence
	mailer   *outboxMailer
	disp     *notification.Dispatcher
}

const digestDelay = 2 * time.Minute

func newEnv(t *testing.T) *env {
	t.Helper()
	pool := pgtest.New(t,
		pgtest.Migration{Component: "events", Files: events.Migrations},
		pgtest.Migration{Component: notificationdb.Component, Files: notificationdb.Migrations})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := notificationdb.New(pool, events.NewOutbox("notification"))
	emails, err := notification.NewEmails("http://localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now().UTC().Truncate(time.Microsecond)}
	svc, err := notification.NewService(notification.Config{Store: store, Emails: emails, MessageIDDomain: "parley.test",
		DigestDelay: digestDelay, Logger: logger, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: context.Background(), pool: pool, store: store, svc: svc, clock: clk,
		presence: &presence{seen: map[string]time.Time{}}, mailer: &outboxMailer{}}
	e.disp, err = notification.NewDispatcher(notification.DispatcherConfig{
		Service: svc, Store: store, Mailer: e.mailer, Presence: e.presence, Logger: logger,
		OfflineAfter: 5 * time.Minute, SendTimeout: time.Minute, RetryBackoff: time.Minute, MaxAttempts: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
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
	e.event(func(tx notification.Tx) error { return e.svc.Registered(e.ctx, tx, id, nick+"@example.com", nick) })
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
	var n int
	if err := e.pool.QueryRow(e.ctx, sql, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return n
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

var errBoom = errors.New("boom")

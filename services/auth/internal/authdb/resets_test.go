package authdb_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/platform/domainerr"

	"github.com/parleyhq/parley/services/auth/internal/auth"
	"github.com/parleyhq/parley/services/auth/internal/authtest"
)

// mailbox stands in for the notification service, which cannot run inside this package's tests:
// it records what the service hands over (the end-to-end suite sends real emails).
type mailbox struct {
	mu       sync.Mutex
	sent     []auth.ResetEmail
	verifies []auth.VerificationEmail
	fail     error
}

func (m *mailbox) SendEmailVerification(_ context.Context, e auth.VerificationEmail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.verifies = append(m.verifies, e)
	return nil
}

func (m *mailbox) lastVerification(t *testing.T) auth.VerificationEmail {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.verifies) == 0 {
		t.Fatal("no verification email handed over")
	}
	return m.verifies[len(m.verifies)-1]
}

func (m *mailbox) SendPasswordReset(_ context.Context, e auth.ResetEmail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.sent = append(m.sent, e)
	return nil
}

// last is the newest reset email handed over; the caller has waited for the service's background
// hand-overs (Service.WaitBackground).
func (m *mailbox) last(t *testing.T) auth.ResetEmail {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sent) == 0 {
		t.Fatal("no reset email handed over")
	}
	return m.sent[len(m.sent)-1]
}

// withMailer rebuilds e's service with a mailbox as its ResetMailer.
func (e *env) withMailer(t *testing.T) *mailbox {
	t.Helper()
	box := &mailbox{}
	tokens := authtest.Tokens(t)
	hasher := authtest.Hasher(t)
	var err error
	e.svc, err = auth.NewService(auth.Deps{
		Store: e.store, Hasher: hasher, Tokens: tokens, RefreshTokenTTL: 30 * 24 * time.Hour, Mailer: box,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: e.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.tokens = tokens
	return box
}

func TestPasswordResetByEmail(t *testing.T) {
	e := newEnv(t)
	box := e.withMailer(t)
	ctx := context.Background()
	c := auth.Client{Network: testClient}
	a := e.register(t, "quinn@example.com", "plum tree 42", c)
	b := e.login(t, "quinn@example.com", "plum tree 42", c)

	if err := e.svc.RequestPasswordReset(ctx, "  Quinn@Example.com ", testClient); err != nil {
		t.Fatal(err)
	}
	e.svc.WaitBackground()
	first := box.last(t)
	if first.UserID != a.userID || first.Email != "quinn@example.com" || first.Token == "" || !first.ExpiresAt.Equal(e.clock().Add(30*time.Minute)) || first.Key == "" {
		t.Fatalf("reset email %+v", first)
	}
	// A newer request ends the first link.
	e.advance(time.Minute)
	if err := e.svc.RequestPasswordReset(ctx, "quinn@example.com", testClient); err != nil {
		t.Fatal(err)
	}
	e.svc.WaitBackground()
	second := box.last(t)
	if second.Token == first.Token || second.Key == first.Key {
		t.Fatal("the second request reused the first token")
	}
	if err := e.svc.ResetPassword(ctx, first.Token, "apple orchard 7"); !errors.Is(err, auth.ErrResetTokenInvalid) {
		t.Fatalf("the replaced link: %v, want ErrResetTokenInvalid", err)
	}

	// The new password follows Register's rules against the account's email.
	if err := e.svc.ResetPassword(ctx, second.Token, "quinn-again-1"); !errors.Is(err, domainerr.ErrInvalidArgument) ||
		err.Error() != "new_password: must not contain your email address's name (the part before the @)" {
		t.Fatalf("personal password: %v", err)
	}
	if err := e.svc.ResetPassword(ctx, "", "x"); err == nil || err.Error() != "reset_token: required; new_password: must be at least 8 characters" {
		t.Fatalf("empty fields: %v", err)
	}
	if err := e.svc.ResetPassword(ctx, "made-up", "apple orchard 7"); !errors.Is(err, auth.ErrResetTokenInvalid) {
		t.Fatalf("a made-up token: %v", err)
	}

	if err := e.svc.ResetPassword(ctx, second.Token, "apple orchard 7"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResetPassword(ctx, second.Token, "another orchard 8"); !errors.Is(err, auth.ErrResetTokenInvalid) {
		t.Fatalf("a used link: %v", err)
	}
	if _, _, err := e.svc.Login(ctx, "quinn@example.com", "plum tree 42", "203.0.113.9"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("the old password still works: %v", err)
	}
	e.login(t, "quinn@example.com", "apple orchard 7", c)
	for _, s := range []signedIn{a, b} {
		if _, _, err := e.svc.RefreshToken(ctx, s.tokens.RefreshToken); !errors.Is(err, domainerr.ErrUnauthenticated) {
			t.Fatalf("session %s survived the reset: %v", s.sessionID, err)
		}
	}
	reasons := map[string]int{}
	for _, ev := range revokedEvents(t, e) {
		reasons[ev.GetReason()]++
	}
	if reasons[auth.RevokePasswordReset] != 2 {
		t.Fatalf("SessionRevoked reasons %v; want both sessions ended by %s", reasons, auth.RevokePasswordReset)
	}
	if n := len(outboxRows(t, e.pool, typePasswordChanged)); n != 1 {
		t.Fatalf("%d PasswordChanged events; want 1", n)
	}
}

func TestPasswordResetLinksExpireAndEndWithAPasswordChange(t *testing.T) {
	e := newEnv(t)
	box := e.withMailer(t)
	ctx := context.Background()
	s := e.register(t, "rosa@example.com", "plum tree 42", auth.Client{Network: testClient})

	if err := e.svc.RequestPasswordReset(ctx, "rosa@example.com", testClient); err != nil {
		t.Fatal(err)
	}
	e.svc.WaitBackground()
	expiring := box.last(t)
	e.advance(30 * time.Minute)
	if err := e.svc.ResetPassword(ctx, expiring.Token, "apple orchard 7"); !errors.Is(err, auth.ErrResetTokenInvalid) {
		t.Fatalf("an expired link: %v", err)
	}

	if err := e.svc.RequestPasswordReset(ctx, "rosa@example.com", testClient); err != nil {
		t.Fatal(err)
	}
	e.svc.WaitBackground()
	open := box.last(t)
	if _, err := e.svc.ChangePassword(ctx, s.userID, s.sessionID, "plum tree 42", "pear grove 9", testClient); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResetPassword(ctx, open.Token, "apple orchard 7"); !errors.Is(err, auth.ErrResetTokenInvalid) {
		t.Fatalf("a link from before a password change: %v", err)
	}
}

func TestPasswordResetAnswersAlikeForUnknownEmails(t *testing.T) {
	e := newEnv(t)
	box := e.withMailer(t)
	ctx := context.Background()
	e.register(t, "sam@example.com", "plum tree 42", auth.Client{Network: testClient})

	if err := e.svc.RequestPasswordReset(ctx, "nobody@example.com", testClient); err != nil {
		t.Fatalf("unknown email: %v", err)
	}
	e.svc.WaitBackground()
	if n := len(box.sent); n != 0 {
		t.Fatalf("%d reset emails for an email no account has", n)
	}
	if err := e.svc.RequestPasswordReset(ctx, "not an address", testClient); !errors.Is(err, domainerr.ErrInvalidArgument) {
		t.Fatalf("not an address: %v", err)
	}

	// The notification service down: both answer at once, alike; the account's email goes out
	// once the service is back (the outage delays it, it does not lose it).
	box.mu.Lock()
	box.fail = errors.New("connection refused")
	box.mu.Unlock()
	for _, email := range []string{"sam@example.com", "nobody@example.com"} {
		if err := e.svc.RequestPasswordReset(ctx, email, "198.51.100.99"); err != nil {
			t.Fatalf("%s with the mailer down: %v", email, err)
		}
	}
	time.Sleep(300 * time.Millisecond) // at least one refused attempt
	box.mu.Lock()
	box.fail = nil
	box.mu.Unlock()
	e.svc.WaitBackground()
	if sent := box.last(t); sent.Email != "sam@example.com" || len(box.sent) != 1 {
		t.Fatalf("after the outage: %d emails, last %+v; want sam's one", len(box.sent), sent)
	}
}

func TestPasswordResetBudgets(t *testing.T) {
	e := newEnv(t)
	e.withMailer(t)
	ctx := context.Background()
	e.register(t, "tia@example.com", "plum tree 42", auth.Client{Network: testClient})

	// Per email, the same for an account's email and an unknown one.
	for _, email := range []string{"tia@example.com", "nobody@example.com"} {
		for i := range auth.DefaultResetPolicy.PerEmail {
			if err := e.svc.RequestPasswordReset(ctx, email, "198.51.100.1"); err != nil {
				t.Fatalf("%s request %d: %v", email, i+1, err)
			}
		}
		err := e.svc.RequestPasswordReset(ctx, email, "198.51.100.2")
		var de *domainerr.Error
		if !errors.As(err, &de) || !errors.Is(err, domainerr.ErrResourceExhausted) || de.RetryAfter != time.Hour ||
			de.Msg != "too many password reset requests; try again in 3600 seconds" {
			t.Fatalf("%s over budget: %v", email, err)
		}
	}
	// Per client: many emails from one network.
	var err error
	for i := range auth.DefaultResetPolicy.PerClient + 1 {
		err = e.svc.RequestPasswordReset(ctx, "someone"+string(rune('a'+i))+"@example.com", "203.0.113.50")
	}
	if !errors.Is(err, domainerr.ErrResourceExhausted) {
		t.Fatalf("request %d from one client: %v", auth.DefaultResetPolicy.PerClient+1, err)
	}
	// A new window.
	e.advance(time.Hour)
	if err := e.svc.RequestPasswordReset(ctx, "tia@example.com", "203.0.113.50"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

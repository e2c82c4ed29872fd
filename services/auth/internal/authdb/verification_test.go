package authdb_test

import (
	"context"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/pgtest"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

const typeEmailVerified = "parley.events.v1.EmailVerified"

func TestRegisterSendsAVerificationLinkThatWorksOnce(t *testing.T) {
	e := newEnv(t)
	box := e.withMailer(t)
	ctx := context.Background()
	s := e.register(t, "uma@example.com", "plum tree 42", auth.Client{Network: testClient})

	sent := box.lastVerification(t)
	if sent.UserID != s.userID || sent.Email != "uma@example.com" || sent.Token == "" || !sent.ExpiresAt.Equal(e.clock().Add(auth.VerificationTTL)) {
		t.Fatalf("verification email %+v", sent)
	}
	if acc, _ := e.svc.GetMe(ctx, s.userID); acc.EmailVerified {
		t.Fatal("verified before the link was used")
	}
	if p := e.principal(t, s.tokens.AccessToken); p.EmailVerified {
		t.Fatal("the first access token says email_verified")
	}
	var registered eventsv1.UserRegistered
	if err := proto.Unmarshal(outboxRows(t, e.pool, typeRegistered)[0].Payload, &registered); err != nil || registered.GetEmailVerified() {
		t.Fatalf("UserRegistered %v (email_verified must be false), %v", &registered, err)
	}

	v, err := e.svc.VerifyEmail(ctx, sent.Token)
	if err != nil || v.UserID != s.userID || v.Email != "uma@example.com" {
		t.Fatalf("VerifyEmail = %+v, %v", v, err)
	}
	if _, err := e.svc.VerifyEmail(ctx, sent.Token); !errors.Is(err, auth.ErrVerificationInvalid) {
		t.Fatalf("a used link: %v", err)
	}
	if acc, _ := e.svc.GetMe(ctx, s.userID); !acc.EmailVerified {
		t.Fatal("GetMe does not say verified")
	}
	_, refreshed, err := e.svc.RefreshToken(ctx, s.tokens.RefreshToken)
	if err != nil || !e.principal(t, refreshed.AccessToken).EmailVerified {
		t.Fatalf("a refreshed token must say email_verified: %v", err)
	}
	rows := outboxRows(t, e.pool, typeEmailVerified)
	var ev eventsv1.EmailVerified
	if len(rows) != 1 || proto.Unmarshal(rows[0].Payload, &ev) != nil || ev.GetUserId() != s.userID || ev.GetEmail() != "uma@example.com" {
		t.Fatalf("EmailVerified rows %v", rows)
	}
	if err := e.svc.ResendVerificationEmail(ctx, s.userID); !errors.Is(err, auth.ErrEmailAlreadyVerified) {
		t.Fatalf("resend when verified: %v", err)
	}
	if _, err := e.svc.VerifyEmail(ctx, ""); !errors.Is(err, domainerr.ErrInvalidArgument) || err.Error() != "verification_token: required" {
		t.Fatalf("empty token: %v", err)
	}
}

func TestResendVerificationReplacesTheLinkWithinABudget(t *testing.T) {
	e := newEnv(t)
	box := e.withMailer(t)
	ctx := context.Background()
	s := e.register(t, "val@example.com", "plum tree 42", auth.Client{Network: testClient})
	first := box.lastVerification(t)

	var err error
	for range auth.VerificationResends {
		if err = e.svc.ResendVerificationEmail(ctx, s.userID); err != nil {
			t.Fatal(err)
		}
	}
	err = e.svc.ResendVerificationEmail(ctx, s.userID)
	var de *domainerr.Error
	if !errors.As(err, &de) || !errors.Is(err, domainerr.ErrResourceExhausted) || de.RetryAfter != time.Hour {
		t.Fatalf("resend %d: %v", auth.VerificationResends+1, err)
	}
	last := box.lastVerification(t)
	if last.UserID != s.userID || last.Email != "val@example.com" || last.Token == first.Token ||
		last.Key != hex.EncodeToString(auth.HashRefreshToken(last.Token)) || !last.ExpiresAt.Equal(e.clock().Add(auth.VerificationTTL)) {
		t.Fatalf("resent verification email %+v", last)
	}
	if _, err := e.svc.VerifyEmail(ctx, first.Token); !errors.Is(err, auth.ErrVerificationInvalid) {
		t.Fatalf("the replaced link: %v", err)
	}
	e.advance(auth.VerificationTTL)
	if _, err := e.svc.VerifyEmail(ctx, last.Token); !errors.Is(err, auth.ErrVerificationInvalid) {
		t.Fatalf("an expired link: %v", err)
	}
	// After the window, again; the mailer down is Unavailable.
	box.fail = errors.New("connection refused")
	if err := e.svc.ResendVerificationEmail(ctx, s.userID); !errors.Is(err, domainerr.ErrUnavailable) {
		t.Fatalf("mailer down: %v", err)
	}
}

func TestOAuthAccountsStartVerified(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	userID, sessionID := "0190b6b1-7f3a-7c2e-9d4b-5a6c7d8e9f12", "0190b6b1-7f3a-7c2e-9d4b-5a6c7d8e9f13"
	now := e.clock()
	err := e.store.CreateAccount(ctx, auth.NewAccount{
		UserID: userID, Email: "wes@example.com", Identity: &auth.Identity{Provider: "dev", Subject: "wes", Email: "wes@example.com", EmailVerified: true},
		Method: "oauth:dev", CreatedAt: now, EmailVerified: true,
		Session: auth.NewSession{ID: sessionID, UserID: userID, Method: "oauth:dev", CreatedAt: now,
			RefreshTokenHash: make([]byte, 32), RefreshTokenExpiresAt: now.Add(time.Hour)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if acc, err := e.svc.GetMe(ctx, userID); err != nil || !acc.EmailVerified {
		t.Fatalf("GetMe = %+v, %v; want verified", acc, err)
	}
	var registered eventsv1.UserRegistered
	if err := proto.Unmarshal(outboxRows(t, e.pool, typeRegistered)[0].Payload, &registered); err != nil || !registered.GetEmailVerified() {
		t.Fatalf("UserRegistered %v: email_verified must be true", &registered)
	}
}

func (e *env) principal(t *testing.T, token string) authn.Principal {
	t.Helper()
	p, err := authn.NewVerifier(authn.StaticKeys{Set: e.tokens.PublicKeys()}, "parley", "parley").Verify(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExpiredVerificationLinksAreCleanedUp(t *testing.T) {
	e := newEnv(t)
	e.withMailer(t)
	ctx := context.Background()
	e.register(t, "xia@example.com", "plum tree 42", auth.Client{Network: testClient})
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM email_verifications`); n != 1 {
		t.Fatalf("%d verification links after Register", n)
	}
	e.advance(auth.VerificationTTL + 2*time.Hour)
	if _, err := e.store.DeleteExpired(ctx, e.clock(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM email_verifications`); n != 0 {
		t.Fatalf("%d verification links left after they expired", n)
	}
}

// ResendVerificationEmail learns the address from the store's locked read: no account and no
// address are refused there, before anything is charged or sent.
func TestResendVerificationWithoutAnAddress(t *testing.T) {
	e := newEnv(t)
	box := e.withMailer(t)
	ctx := context.Background()
	for _, id := range []string{"0190b6b1-7f3a-7c2e-9d4b-5a6c7d8e9f99", "not-a-uuid"} {
		if err := e.svc.ResendVerificationEmail(ctx, id); !errors.Is(err, auth.ErrAccountNotFound) {
			t.Errorf("ResendVerificationEmail(%q) = %v; want ErrAccountNotFound", id, err)
		}
	}
	userID, sessionID := "0190b6b1-7f3a-7c2e-9d4b-5a6c7d8e9f22", "0190b6b1-7f3a-7c2e-9d4b-5a6c7d8e9f23"
	now := e.clock()
	err := e.store.CreateAccount(ctx, auth.NewAccount{
		UserID: userID, Identity: &auth.Identity{Provider: "dev", Subject: "xia"}, Method: "oauth:dev", CreatedAt: now,
		Session: auth.NewSession{ID: sessionID, UserID: userID, Method: "oauth:dev", CreatedAt: now,
			RefreshTokenHash: make([]byte, 32), RefreshTokenExpiresAt: now.Add(time.Hour)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResendVerificationEmail(ctx, userID); !errors.Is(err, auth.ErrNoEmail) {
		t.Errorf("an account without an email: %v; want ErrNoEmail", err)
	}
	if len(box.verifies) != 0 {
		t.Errorf("emails handed over: %+v", box.verifies)
	}
}

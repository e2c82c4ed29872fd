package authdb_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/services/auth/internal/auth"
)

const typePasswordChanged = "parley.events.v1.PasswordChanged"

// signedIn is one session of a test user.
type signedIn struct {
	userID, sessionID string
	tokens            auth.Tokens
}

func (e *env) sessionOf(t *testing.T, userID string, tokens auth.Tokens) signedIn {
	t.Helper()
	var sessionID string
	err := e.pool.QueryRow(context.Background(), `SELECT session_id FROM refresh_tokens WHERE token_hash = $1`,
		auth.HashRefreshToken(tokens.RefreshToken)).Scan(&sessionID)
	if err != nil {
		t.Fatal(err)
	}
	return signedIn{userID: userID, sessionID: sessionID, tokens: tokens}
}

func (e *env) register(t *testing.T, email, password string, c auth.Client) signedIn {
	t.Helper()
	nickname := strings.Split(email, "@")[0]
	userID, tokens, err := e.svc.Register(auth.WithClient(context.Background(), c), email, password, nickname)
	if err != nil {
		t.Fatal(err)
	}
	return e.sessionOf(t, userID, tokens)
}

func (e *env) login(t *testing.T, email, password string, c auth.Client) signedIn {
	t.Helper()
	userID, tokens, err := e.svc.Login(auth.WithClient(context.Background(), c), email, password, c.Network)
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	return e.sessionOf(t, userID, tokens)
}

func revokedEvents(t *testing.T, e *env) []*eventsv1.SessionRevoked {
	t.Helper()
	var out []*eventsv1.SessionRevoked
	for _, r := range outboxRows(t, e.pool, typeRevoked) {
		var ev eventsv1.SessionRevoked
		if err := proto.Unmarshal(r.Payload, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, &ev)
	}
	return out
}

func TestListSessionsDescribesEachDevice(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	laptop := auth.Client{UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0", Network: "203.0.113.77"}
	phone := auth.Client{UserAgent: strings.Repeat("é", 300), Network: "2001:db8:1:2::/64"}

	first := e.register(t, "ivy@example.com", "plum tree 42", laptop)
	e.advance(time.Minute)
	second := e.login(t, "ivy@example.com", "plum tree 42", phone)
	e.advance(time.Minute)
	// The laptop refreshes: it becomes the most recently used.
	if _, _, err := e.svc.RefreshToken(ctx, first.tokens.RefreshToken); err != nil {
		t.Fatal(err)
	}
	refreshedAt := e.clock()

	got, err := e.svc.ListSessions(ctx, first.userID, second.sessionID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d sessions, want 2: %+v", len(got), got)
	}
	l, p := got[0], got[1]
	if l.ID != first.sessionID || p.ID != second.sessionID {
		t.Fatalf("order %s, %s; want the laptop (refreshed last) first", l.ID, p.ID)
	}
	if l.UserAgent != laptop.UserAgent || l.ClientNetwork != "203.0.113.0/24" || l.Method != auth.MethodPassword || l.Current {
		t.Errorf("laptop session %+v", l)
	}
	if !l.LastUsedAt.Equal(refreshedAt) || !l.CreatedAt.Equal(refreshedAt.Add(-2*time.Minute)) {
		t.Errorf("laptop created %v, last used %v; want %v and %v", l.CreatedAt, l.LastUsedAt, refreshedAt.Add(-2*time.Minute), refreshedAt)
	}
	if p.UserAgent != strings.Repeat("é", auth.MaxUserAgentRunes) || p.ClientNetwork != "2001:db8:1::/48" || !p.Current {
		t.Errorf("phone session: user agent %d runes, network %q, current %v", len([]rune(p.UserAgent)), p.ClientNetwork, p.Current)
	}
	if !p.LastUsedAt.Equal(p.CreatedAt) {
		t.Errorf("never refreshed: last used %v, want its creation %v", p.LastUsedAt, p.CreatedAt)
	}

	// Another user sees none of them; a logged-out session leaves the list, an expired one too.
	if other, err := e.svc.ListSessions(ctx, "0190b6b1-7f3a-7c2e-9d4b-5a6c7d8e9f01", ""); err != nil || len(other) != 0 {
		t.Fatalf("another user's list: %v, %v", other, err)
	}
	if err := e.svc.Logout(ctx, second.tokens.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.svc.ListSessions(ctx, first.userID, ""); len(got) != 1 || got[0].ID != first.sessionID {
		t.Fatalf("after logging the phone out: %+v", got)
	}
	e.advance(31 * 24 * time.Hour)
	if got, _ := e.svc.ListSessions(ctx, first.userID, ""); len(got) != 0 {
		t.Fatalf("after every refresh token expired: %+v", got)
	}
}

func TestRevokeSessionEndsOnlyTheCallersSession(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := auth.Client{Network: testClient}
	a1 := e.register(t, "jay@example.com", "plum tree 42", c)
	a2 := e.login(t, "jay@example.com", "plum tree 42", c)
	b := e.register(t, "kim@example.com", "plum tree 42", c)

	// Someone else's session id looks exactly like an unknown one, and stays alive.
	if err := e.svc.RevokeSession(ctx, a1.userID, b.sessionID); !errors.Is(err, auth.ErrSessionNotFound) {
		t.Fatalf("revoking another user's session: %v, want ErrSessionNotFound", err)
	}
	if _, _, err := e.svc.RefreshToken(ctx, b.tokens.RefreshToken); err != nil {
		t.Fatalf("the other user's session was touched: %v", err)
	}
	for raw, want := range map[string]string{
		"":           "session_id: required, a UUID such as ",
		"not-a-uuid": "session_id: must be a UUID such as ",
	} {
		if err := e.svc.RevokeSession(ctx, a1.userID, raw); !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("RevokeSession(%q) = %v, want InvalidArgument %q", raw, err, want)
		}
	}

	// Upper case is the same id.
	if err := e.svc.RevokeSession(ctx, a1.userID, strings.ToUpper(a2.sessionID)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.RefreshToken(ctx, a2.tokens.RefreshToken); !errors.Is(err, domainerr.ErrUnauthenticated) || err.Error() != "session has ended; sign in again" {
		t.Fatalf("refresh of the revoked session: %v", err)
	}
	if _, _, err := e.svc.RefreshToken(ctx, a1.tokens.RefreshToken); err != nil {
		t.Fatalf("the caller's other session ended too: %v", err)
	}
	// Again: it succeeds and writes nothing more.
	if err := e.svc.RevokeSession(ctx, a1.userID, a2.sessionID); err != nil {
		t.Fatalf("revoking an ended session again: %v", err)
	}
	evs := revokedEvents(t, e)
	if len(evs) != 1 || evs[0].GetSessionId() != a2.sessionID || evs[0].GetUserId() != a1.userID || evs[0].GetReason() != auth.RevokeUser {
		t.Fatalf("SessionRevoked events %v; want one, reason %s, for %s", evs, auth.RevokeUser, a2.sessionID)
	}
}

func TestRevokeOtherSessionsKeepsTheCurrentOne(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := auth.Client{Network: testClient}
	s1 := e.register(t, "lee@example.com", "plum tree 42", c)
	s2 := e.login(t, "lee@example.com", "plum tree 42", c)
	s3 := e.login(t, "lee@example.com", "plum tree 42", c)
	if err := e.svc.Logout(ctx, s3.tokens.RefreshToken); err != nil { // already ended: not counted again
		t.Fatal(err)
	}
	other := e.register(t, "max@example.com", "plum tree 42", c)

	// Without a current session there is none to keep: refused, rather than ending them all.
	if n, err := e.svc.RevokeOtherSessions(ctx, s2.userID, ""); !errors.Is(err, auth.ErrNoSession) || n != 0 {
		t.Fatalf("RevokeOtherSessions without a session = %d, %v; want ErrNoSession", n, err)
	}
	n, err := e.svc.RevokeOtherSessions(ctx, s2.userID, s2.sessionID)
	if err != nil || n != 1 {
		t.Fatalf("RevokeOtherSessions = %d, %v; want 1 (s1; s3 had ended)", n, err)
	}
	if _, _, err := e.svc.RefreshToken(ctx, s1.tokens.RefreshToken); !errors.Is(err, domainerr.ErrUnauthenticated) {
		t.Fatalf("s1 still refreshes: %v", err)
	}
	for _, s := range []signedIn{s2, other} {
		if _, _, err := e.svc.RefreshToken(ctx, s.tokens.RefreshToken); err != nil {
			t.Fatalf("session %s ended: %v", s.sessionID, err)
		}
	}
	evs := revokedEvents(t, e)
	if len(evs) != 2 || evs[1].GetSessionId() != s1.sessionID || evs[1].GetReason() != auth.RevokeUser {
		t.Fatalf("SessionRevoked events %v; want logout of s3, then %s of s1", evs, auth.RevokeUser)
	}
	if n, err := e.svc.RevokeOtherSessions(ctx, s2.userID, s2.sessionID); err != nil || n != 0 {
		t.Fatalf("again: %d, %v; want 0", n, err)
	}
}

func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := auth.Client{Network: testClient}
	here := e.register(t, "norah@example.com", "plum tree 42", c)
	there := e.login(t, "norah@example.com", "plum tree 42", c)

	for _, tc := range []struct{ current, next, want string }{
		{"", "", "current_password: required; new_password: required"},
		{"plum tree 42", "short", "new_password: must be at least 8 characters"},
		{"plum tree 42", "password123", "new_password: is one of the most common passwords in public breach lists, so it is guessed first; choose another"},
		{"plum tree 42", "norah was here", "new_password: must not contain your email address's name (the part before the @)"},
		{"plum tree 42", "plum tree 42", "new_password: must differ from the current password"},
	} {
		_, err := e.svc.ChangePassword(ctx, here.userID, here.sessionID, tc.current, tc.next, testClient)
		if !errors.Is(err, domainerr.ErrInvalidArgument) || err.Error() != tc.want {
			t.Errorf("ChangePassword(%q, %q) = %v, want InvalidArgument %q", tc.current, tc.next, err, tc.want)
		}
	}
	if _, err := e.svc.ChangePassword(ctx, here.userID, here.sessionID, "wrong one", "apple orchard 7", testClient); !errors.Is(err, auth.ErrWrongCurrentPassword) {
		t.Fatalf("wrong current password: %v", err)
	}
	if n := len(outboxRows(t, e.pool, typePasswordChanged)); n != 0 {
		t.Fatalf("%d PasswordChanged events before any change", n)
	}

	n, err := e.svc.ChangePassword(ctx, here.userID, here.sessionID, "plum tree 42", "apple orchard 7", testClient)
	if err != nil || n != 1 {
		t.Fatalf("ChangePassword = %d, %v; want 1 other session ended", n, err)
	}
	if _, _, err := e.svc.Login(ctx, "norah@example.com", "plum tree 42", testClient); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("the old password still signs in: %v", err)
	}
	e.login(t, "norah@example.com", "apple orchard 7", c)
	if _, _, err := e.svc.RefreshToken(ctx, here.tokens.RefreshToken); err != nil {
		t.Fatalf("the session that changed the password ended: %v", err)
	}
	if _, _, err := e.svc.RefreshToken(ctx, there.tokens.RefreshToken); !errors.Is(err, domainerr.ErrUnauthenticated) {
		t.Fatalf("the other session still refreshes: %v", err)
	}
	evs := revokedEvents(t, e)
	if len(evs) != 1 || evs[0].GetSessionId() != there.sessionID || evs[0].GetReason() != auth.RevokePasswordChanged {
		t.Fatalf("SessionRevoked events %v; want %s of the other session", evs, auth.RevokePasswordChanged)
	}
	rows := outboxRows(t, e.pool, typePasswordChanged)
	if len(rows) != 1 || rows[0].Key != here.userID {
		t.Fatalf("PasswordChanged rows %v; want one keyed by the user", rows)
	}
	var ev eventsv1.PasswordChanged
	if err := proto.Unmarshal(rows[0].Payload, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.GetUserId() != here.userID || ev.GetSessionId() != here.sessionID || !ev.GetChangedAt().AsTime().Equal(e.clock()) {
		t.Fatalf("PasswordChanged %v", &ev)
	}
}

func TestChangePasswordIsThrottledLikeLogin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := e.register(t, "oli@example.com", "plum tree 42", auth.Client{Network: testClient})
	var err error
	for i := 0; i <= auth.DefaultThrottlePolicy.FreeFailures; i++ {
		_, err = e.svc.ChangePassword(ctx, s.userID, s.sessionID, "guess "+string(rune('a'+i)), "apple orchard 7", testClient)
	}
	var de interface{ Error() string }
	if !errors.Is(err, auth.ErrTooManyAttempts) {
		t.Fatalf("after %d wrong current passwords: %v, want ErrTooManyAttempts", auth.DefaultThrottlePolicy.FreeFailures+1, err)
	}
	de = err
	if !strings.HasPrefix(de.Error(), "too many failed sign-in attempts for this email; try again in ") {
		t.Fatalf("message %q", de.Error())
	}
	// The throttle is the account's: a login from the same client waits too, even with the right password.
	if _, _, err := e.svc.Login(ctx, "oli@example.com", "plum tree 42", testClient); !errors.Is(err, auth.ErrTooManyAttempts) {
		t.Fatalf("login after throttled password changes: %v", err)
	}
}

func TestChangePasswordWithoutAPassword(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	userID, sessionID := "0190b6b1-7f3a-7c2e-9d4b-5a6c7d8e9f02", "0190b6b1-7f3a-7c2e-9d4b-5a6c7d8e9f03"
	now := e.clock()
	err := e.store.CreateAccount(ctx, auth.NewAccount{
		UserID: userID, Email: "pat@example.com", Identity: &auth.Identity{Provider: "dev", Subject: "pat"},
		Method: "oauth:dev", CreatedAt: now,
		Session: auth.NewSession{ID: sessionID, UserID: userID, Method: "oauth:dev", CreatedAt: now,
			RefreshTokenHash: make([]byte, 32), RefreshTokenExpiresAt: now.Add(time.Hour)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ChangePassword(ctx, userID, sessionID, "anything", "apple orchard 7", testClient); !errors.Is(err, auth.ErrNoPassword) {
		t.Fatalf("ChangePassword on a provider-only account: %v, want ErrNoPassword", err)
	}
	if _, err := e.svc.ChangePassword(ctx, "0190b6b1-7f3a-7c2e-9d4b-5a6c7d8e9f04", sessionID, "anything", "apple orchard 7", testClient); !errors.Is(err, auth.ErrAccountNotFound) {
		t.Fatalf("ChangePassword for a deleted account: %v, want ErrAccountNotFound", err)
	}
}

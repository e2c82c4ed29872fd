package authdb_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/pgtest"

	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/services/auth/internal/auth"
	"github.com/parleyhq/parley/services/auth/internal/authdb"
	"github.com/parleyhq/parley/services/auth/internal/authtest"
)

type env struct {
	pool   *pgxpool.Pool
	store  *authdb.Store
	svc    *auth.Service
	tokens *auth.AccessTokens
	now    time.Time
	mu     sync.Mutex
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{pool: eventstest.NewDB(t, "auth", authdb.Migrations), now: time.Now().UTC().Truncate(time.Microsecond)}
	e.store = authdb.New(e.pool, events.NewOutbox("auth"))
	e.svc, e.tokens = newService(t, e.store, auth.MinArgon2Params, e.clock)
	return e
}

func newService(t *testing.T, store auth.Store, params auth.Argon2Params, now func() time.Time) (*auth.Service, *auth.AccessTokens) {
	t.Helper()
	hasher, err := auth.NewPasswordHasher(params, 4, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return newServiceWith(t, store, hasher, auth.ThrottlePolicy{}, now)
}

// newServiceWith builds a service around hasher with a throttle policy (zero: the default).
func newServiceWith(t *testing.T, store auth.Store, hasher *auth.PasswordHasher, throttle auth.ThrottlePolicy, now func() time.Time) (*auth.Service, *auth.AccessTokens) {
	t.Helper()
	tokens := authtest.Tokens(t)
	svc, err := auth.NewService(auth.Deps{
		Store: store, Hasher: hasher, Tokens: tokens, RefreshTokenTTL: 30 * 24 * time.Hour, Throttle: throttle,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: now, Passkeys: testPasskeys,
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc, tokens
}

type outboxRow struct {
	Topic, Key, Type string
	Payload          []byte
}

func outboxRows(t *testing.T, pool *pgxpool.Pool, ceType string) []outboxRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT topic, key, ce_type, payload FROM outbox WHERE ce_type = $1 ORDER BY id`, ceType)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		if err := rows.Scan(&r.Topic, &r.Key, &r.Type, &r.Payload); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// testClient is the client key logins in these tests come from.
const testClient = "198.51.100.7"

const (
	typeRegistered = "parley.events.v1.UserRegistered"
	typeLoggedIn   = "parley.events.v1.UserLoggedIn"
	typeRevoked    = "parley.events.v1.SessionRevoked"
)

func TestRegisterThenDuplicateEmail(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	userID, tokens, err := e.svc.Register(ctx, "  Alice@Example.com ", "correct horse", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if userID == "" || tokens.AccessToken == "" || tokens.RefreshToken == "" {
		t.Fatalf("Register returned id %q tokens %+v", userID, tokens)
	}
	acc, err := e.svc.GetMe(ctx, userID)
	if err != nil || acc.Email != "alice@example.com" || acc.UserID != userID {
		t.Fatalf("GetMe = %+v, %v; want the normalised email", acc, err)
	}
	var hash string
	if err := e.pool.QueryRow(ctx, `SELECT hash FROM password_credentials WHERE user_id = $1`, userID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, "correct horse") {
		t.Fatalf("stored credential %q is not an argon2id hash", hash)
	}

	_, _, err = e.svc.Register(ctx, "ALICE@example.com", "another password", "alice2")
	if !errors.Is(err, domainerr.ErrAlreadyExists) || err.Error() != "email: already registered" {
		t.Fatalf("duplicate Register error = %v; want AlreadyExists \"email: already registered\"", err)
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM users`); n != 1 {
		t.Fatalf("%d users after a duplicate registration; want 1", n)
	}
}

func TestRegisterWritesExactlyOneUserRegisteredEvent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	userID, _, err := e.svc.Register(ctx, "bob@example.com", "plum tree 42", "bob.the-builder")
	if err != nil {
		t.Fatal(err)
	}
	rows := outboxRows(t, e.pool, typeRegistered)
	if len(rows) != 1 {
		t.Fatalf("%d UserRegistered outbox rows; want 1", len(rows))
	}
	if rows[0].Topic != topics.Auth || rows[0].Key != userID {
		t.Fatalf("event topic %q key %q; want %q and the user id %q", rows[0].Topic, rows[0].Key, topics.Auth, userID)
	}
	var ev eventsv1.UserRegistered
	if err := proto.Unmarshal(rows[0].Payload, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.GetUserId() != userID || ev.GetNickname() != "bob.the-builder" || ev.GetMethod() != "password" || ev.GetRegisteredAt() == nil ||
		ev.GetEmail() != "bob@example.com" {
		t.Fatalf("event %v; want user %s, nickname bob.the-builder, method password, email bob@example.com", &ev, userID)
	}
	if n := len(outboxRows(t, e.pool, typeLoggedIn)); n != 1 {
		t.Fatalf("%d UserLoggedIn rows after Register; want 1 (the new session)", n)
	}

	// A failed registration (duplicate email) writes no event.
	if _, _, err := e.svc.Register(ctx, "bob@example.com", "plum tree 42", "bob2"); !errors.Is(err, domainerr.ErrAlreadyExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if n := len(outboxRows(t, e.pool, typeRegistered)); n != 1 {
		t.Fatalf("%d UserRegistered rows after a failed registration; want still 1", n)
	}
	// Invalid input writes nothing either.
	if _, _, err := e.svc.Register(ctx, "carol@example.com", "short", "carol"); !errors.Is(err, domainerr.ErrInvalidArgument) {
		t.Fatalf("invalid: %v", err)
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM outbox`); n != 2 {
		t.Fatalf("%d outbox rows; want 2 (one registration, one login)", n)
	}
}

func TestAccountAndEventCommitTogether(t *testing.T) {
	// An outbox that cannot write (no source) makes the event fail: the account must not exist.
	pool := eventstest.NewDB(t, "auth", authdb.Migrations)
	svc, _ := newService(t, authdb.New(pool, &events.Outbox{}), auth.MinArgon2Params, nil)
	if _, _, err := svc.Register(context.Background(), "dave@example.com", "plum tree 42", "dave"); err == nil {
		t.Fatal("Register succeeded although its event could not be written")
	}
	for _, table := range []string{"users", "password_credentials", "sessions", "refresh_tokens", "outbox"} {
		if n := pgtest.Count(t, pool, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%d rows in %s after a failed registration; want 0", n, table)
		}
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	userID, _, err := e.svc.Register(ctx, "erin@example.com", "right password", "erin")
	if err != nil {
		t.Fatal(err)
	}
	got, tokens, err := e.svc.Login(ctx, " ERIN@example.com", "right password", testClient)
	if err != nil || got != userID || tokens.AccessToken == "" || tokens.RefreshToken == "" {
		t.Fatalf("Login(right) = %q, %+v, %v", got, tokens, err)
	}
	p, err := authn.NewVerifier(authn.StaticKeys{Set: e.tokens.PublicKeys()}, "parley", "parley").Verify(ctx, tokens.AccessToken)
	if err != nil || p.UserID != userID || p.SessionID == "" {
		t.Fatalf("access token from Login: %+v, %v", p, err)
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM sessions WHERE user_id = $1 AND id = $2`, userID, p.SessionID); n != 1 {
		t.Fatal("the access token's sid is not a stored session of the user")
	}
	if n := len(outboxRows(t, e.pool, typeLoggedIn)); n != 2 {
		t.Fatalf("%d UserLoggedIn events; want 2 (Register and Login)", n)
	}

	_, _, wrong := e.svc.Login(ctx, "erin@example.com", "wrong password", testClient)
	_, _, unknown := e.svc.Login(ctx, "nobody@example.com", "right password", testClient)
	for name, err := range map[string]error{"wrong password": wrong, "unknown email": unknown} {
		if !errors.Is(err, domainerr.ErrUnauthenticated) || err.Error() != "email or password is incorrect" {
			t.Errorf("Login(%s) = %v; want Unauthenticated \"email or password is incorrect\"", name, err)
		}
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM sessions`); n != 2 {
		t.Fatalf("%d sessions; failed logins must not create any", n)
	}
	if _, _, err := e.svc.Login(ctx, "", "", testClient); !errors.Is(err, domainerr.ErrInvalidArgument) || err.Error() != "email: required; password: required" {
		t.Fatalf("Login(empty) = %v", err)
	}
}

func TestLoginRehashesWhenParamsChange(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	userID, _, err := e.svc.Register(ctx, "frank@example.com", "plum tree 42", "frank")
	if err != nil {
		t.Fatal(err)
	}
	stronger := auth.Argon2Params{MemoryKiB: 20 * 1024, Time: 3, Threads: 1}
	svc2, _ := newService(t, e.store, stronger, nil)
	if _, _, err := svc2.Login(ctx, "frank@example.com", "wrong password", testClient); !errors.Is(err, domainerr.ErrUnauthenticated) {
		t.Fatalf("wrong password: %v", err)
	}
	hashOf := func() string {
		var h string
		if err := e.pool.QueryRow(ctx, `SELECT hash FROM password_credentials WHERE user_id = $1`, userID).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	if h := hashOf(); !strings.Contains(h, "$m=19456,t=2,p=1$") {
		t.Fatalf("a failed login changed the hash: %s", h)
	}
	if _, _, err := svc2.Login(ctx, "frank@example.com", "plum tree 42", testClient); err != nil {
		t.Fatal(err)
	}
	if h := hashOf(); !strings.Contains(h, "$m=20480,t=3,p=1$") {
		t.Fatalf("hash after login with new parameters: %s; want m=20480,t=3,p=1", h)
	}
	if _, _, err := svc2.Login(ctx, "frank@example.com", "plum tree 42", testClient); err != nil {
		t.Fatalf("login after rehash: %v", err)
	}
}

func TestRefreshRotation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	userID, first, err := e.svc.Register(ctx, "gina@example.com", "plum tree 42", "gina")
	if err != nil {
		t.Fatal(err)
	}
	v := authn.NewVerifier(authn.StaticKeys{Set: e.tokens.PublicKeys()}, "parley", "parley")
	p1, _ := v.Verify(ctx, first.AccessToken)

	got, second, err := e.svc.RefreshToken(ctx, first.RefreshToken)
	if err != nil || got != userID {
		t.Fatalf("RefreshToken = %q, %v", got, err)
	}
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatal("rotation returned the same tokens")
	}
	if !second.RefreshTokenExpiresAt.Equal(e.clock().Add(30 * 24 * time.Hour)) {
		t.Fatalf("new refresh token expires %v; want now + 30 days", second.RefreshTokenExpiresAt)
	}
	p2, err := v.Verify(ctx, second.AccessToken)
	if err != nil || p2.UserID != userID || p2.SessionID != p1.SessionID {
		t.Fatalf("rotated access token %+v, %v; want the same user and session", p2, err)
	}
	if _, third, err := e.svc.RefreshToken(ctx, second.RefreshToken); err != nil || third.RefreshToken == "" {
		t.Fatalf("second rotation: %v", err)
	}
	var stored int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM refresh_tokens WHERE token_hash = $1 OR token_hash = $2`,
		[]byte(first.RefreshToken), []byte(second.RefreshToken)).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("raw refresh tokens found in the database (%d, %v)", stored, err)
	}
	for _, bad := range []string{"not-a-token", strings.Repeat("A", 43)} {
		if _, _, err := e.svc.RefreshToken(ctx, bad); !errors.Is(err, domainerr.ErrUnauthenticated) {
			t.Errorf("RefreshToken(%q) = %v; want Unauthenticated", bad, err)
		}
	}
	if _, _, err := e.svc.RefreshToken(ctx, ""); !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), "refresh_token:") {
		t.Fatalf("RefreshToken(\"\") = %v; want InvalidArgument naming refresh_token", err)
	}
}

func TestRefreshReuseRevokesTheFamily(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	userID, first, err := e.svc.Register(ctx, "hank@example.com", "plum tree 42", "hank")
	if err != nil {
		t.Fatal(err)
	}
	// An unrelated session of the same user must survive.
	_, other, err := e.svc.Login(ctx, "hank@example.com", "plum tree 42", testClient)
	if err != nil {
		t.Fatal(err)
	}
	_, second, err := e.svc.RefreshToken(ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = e.svc.RefreshToken(ctx, first.RefreshToken) // the thief (or the victim) replays
	if !errors.Is(err, domainerr.ErrUnauthenticated) || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("reused refresh token: %v; want Unauthenticated saying it was already used", err)
	}
	if _, _, err := e.svc.RefreshToken(ctx, second.RefreshToken); !errors.Is(err, domainerr.ErrUnauthenticated) {
		t.Fatalf("newest token of a revoked family: %v; want Unauthenticated", err)
	}
	rows := outboxRows(t, e.pool, typeRevoked)
	if len(rows) != 1 || rows[0].Key != userID || rows[0].Topic != topics.Auth {
		t.Fatalf("SessionRevoked rows %+v; want one for user %s on %s", rows, userID, topics.Auth)
	}
	var ev eventsv1.SessionRevoked
	_ = proto.Unmarshal(rows[0].Payload, &ev)
	p, _ := authn.NewVerifier(authn.StaticKeys{Set: e.tokens.PublicKeys()}, "parley", "parley").Verify(ctx, first.AccessToken)
	if ev.GetReason() != "refresh_token_reuse" || ev.GetSessionId() != p.SessionID || ev.GetUserId() != userID {
		t.Fatalf("SessionRevoked %v; want reason refresh_token_reuse for session %s", &ev, p.SessionID)
	}
	if _, _, err := e.svc.RefreshToken(ctx, other.RefreshToken); err != nil {
		t.Fatalf("another session of the user stopped working: %v", err)
	}
}

func TestConcurrentRefreshesOfOneTokenLetOneWin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, first, err := e.svc.Register(ctx, "ivy@example.com", "plum tree 42", "ivy")
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, _, errs[i] = e.svc.RefreshToken(ctx, first.RefreshToken) })
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, domainerr.ErrUnauthenticated):
			t.Fatalf("unexpected error %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d concurrent rotations of one token succeeded; want exactly 1", wins)
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL`); n != 1 {
		t.Fatal("the losers' replay did not revoke the session")
	}
	if n := len(outboxRows(t, e.pool, typeRevoked)); n != 1 {
		t.Fatalf("%d SessionRevoked events; want 1", n)
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, first, err := e.svc.Register(ctx, "jack@example.com", "plum tree 42", "jack")
	if err != nil {
		t.Fatal(err)
	}
	_, second, err := e.svc.RefreshToken(ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	// Any token of the session ends it, including an already rotated one.
	if err := e.svc.Logout(ctx, first.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.RefreshToken(ctx, second.RefreshToken); !errors.Is(err, domainerr.ErrUnauthenticated) || !strings.Contains(err.Error(), "session has ended") {
		t.Fatalf("refresh after logout: %v; want Unauthenticated (session has ended)", err)
	}
	for range 2 { // idempotent
		if err := e.svc.Logout(ctx, second.RefreshToken); err != nil {
			t.Fatalf("repeated logout: %v", err)
		}
	}
	if err := e.svc.Logout(ctx, "garbage"); err != nil {
		t.Fatalf("logout with an unknown token: %v", err)
	}
	rows := outboxRows(t, e.pool, typeRevoked)
	if len(rows) != 1 {
		t.Fatalf("%d SessionRevoked events; want exactly 1 however often Logout is called", len(rows))
	}
	var ev eventsv1.SessionRevoked
	_ = proto.Unmarshal(rows[0].Payload, &ev)
	if ev.GetReason() != "logout" {
		t.Fatalf("reason %q; want logout", ev.GetReason())
	}
	if err := e.svc.Logout(ctx, ""); !errors.Is(err, domainerr.ErrInvalidArgument) {
		t.Fatalf("Logout(\"\") = %v; want InvalidArgument", err)
	}
}

func TestExpiredRefreshToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, first, err := e.svc.Register(ctx, "kate@example.com", "plum tree 42", "kate")
	if err != nil {
		t.Fatal(err)
	}
	e.advance(30*24*time.Hour - time.Second)
	_, second, err := e.svc.RefreshToken(ctx, first.RefreshToken)
	if err != nil {
		t.Fatalf("refresh a second before expiry: %v", err)
	}
	e.advance(30*24*time.Hour + time.Second)
	if _, _, err := e.svc.RefreshToken(ctx, second.RefreshToken); !errors.Is(err, domainerr.ErrUnauthenticated) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired refresh token: %v; want Unauthenticated (expired)", err)
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL`); n != 0 {
		t.Fatal("an expired token revoked its session; only reuse should")
	}
	// The clean-up removes the expired session and its tokens once the grace period is over.
	if deleted, err := e.store.DeleteExpired(ctx, e.clock(), time.Hour); err != nil || deleted != 0 {
		t.Fatalf("DeleteExpired within the grace period = %d, %v; want 0", deleted, err)
	}
	e.advance(time.Hour)
	deleted, err := e.store.DeleteExpired(ctx, e.clock(), time.Hour)
	if err != nil || deleted != 1 {
		t.Fatalf("DeleteExpired = %d, %v; want 1", deleted, err)
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM refresh_tokens`); n != 0 {
		t.Fatalf("%d refresh tokens left after clean-up", n)
	}
}

func TestGetMeUnknownUser(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"0196e0a0-0000-7000-8000-000000000000", "not-a-uuid"} {
		if _, err := e.svc.GetMe(context.Background(), id); !errors.Is(err, domainerr.ErrNotFound) {
			t.Errorf("GetMe(%q) = %v; want NotFound", id, err)
		}
	}
}

// TestLoginSpendsTheSameHashingWorkForUnknownEmails: a wrong password for a registered email and
// any password for an unregistered one each derive exactly one argon2id key with the configured
// parameters, so neither the answer nor the work done tells whether the email is registered.
func TestLoginSpendsTheSameHashingWorkForUnknownEmails(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	hasher := authtest.Hasher(t)
	svc, _ := newServiceWith(t, e.store, hasher, auth.ThrottlePolicy{}, e.clock)
	if _, _, err := svc.Register(ctx, "known@example.com", "the right password", "known"); err != nil {
		t.Fatal(err)
	}
	work := func(email, password string) uint64 {
		t.Helper()
		before := hasher.Computed()
		if _, _, err := svc.Login(ctx, email, password, testClient); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("Login(%s) = %v; want ErrBadCredentials", email, err)
		}
		return hasher.Computed() - before
	}
	known := work("known@example.com", "a wrong password")
	unknown := work("unknown@example.com", "a wrong password")
	if known != 1 || unknown != 1 {
		t.Fatalf("argon2id keys derived: wrong password %d, unknown email %d; want 1 each", known, unknown)
	}
}

package authdb_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/pgtest"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

const typeUserDeleted = "parley.events.v1.UserDeleted"

// userRows counts the rows of every auth table that name the user (by id, or by the SHA-256 of
// its email or id for the throttle tables, by its email or id for the budgets).
func userRows(t *testing.T, e *env, userID, email string) map[string]int {
	t.Helper()
	throttled := auth.ThrottledAccounts(email, userID)
	return map[string]int{
		"users":                   pgtest.Count(t, e.pool, `SELECT count(*) FROM users WHERE id = $1`, userID),
		"password_credentials":    pgtest.Count(t, e.pool, `SELECT count(*) FROM password_credentials WHERE user_id = $1`, userID),
		"oauth_identities":        pgtest.Count(t, e.pool, `SELECT count(*) FROM oauth_identities WHERE user_id = $1`, userID),
		"sessions":                pgtest.Count(t, e.pool, `SELECT count(*) FROM sessions WHERE user_id = $1`, userID),
		"refresh_tokens":          pgtest.Count(t, e.pool, `SELECT count(*) FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE s.user_id = $1`, userID),
		"password_resets":         pgtest.Count(t, e.pool, `SELECT count(*) FROM password_resets WHERE user_id = $1`, userID),
		"email_verifications":     pgtest.Count(t, e.pool, `SELECT count(*) FROM email_verifications WHERE user_id = $1`, userID),
		"login_throttle":          pgtest.Count(t, e.pool, `SELECT count(*) FROM login_throttle WHERE account = ANY($1)`, throttled),
		"login_throttle_accounts": pgtest.Count(t, e.pool, `SELECT count(*) FROM login_throttle_accounts WHERE account = ANY($1)`, throttled),
		"email_request_budget": pgtest.Count(t, e.pool, `SELECT count(*) FROM email_request_budget WHERE key = ANY($1)`,
			budgetKeys(email, userID)),
	}
}

// budgetKeys are the email budgets keyed by an account: the reset emails' by its address, the
// verification emails' (an hour's and a day's) by its id.
func budgetKeys(email, userID string) []string {
	keys := []string{auth.ResetEmailKey(email)}
	for _, b := range auth.VerificationBudgets(userID) {
		keys = append(keys, b.Key)
	}
	return keys
}

func TestDeleteAccountErasesEverythingButTheTombstone(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := auth.Client{UserAgent: "Parley-Test/1.0", Network: testClient}
	s1 := e.register(t, "zoe@example.com", "plum tree 42", c)
	s2 := e.login(t, "zoe@example.com", "plum tree 42", auth.Client{Network: "203.0.113.9"})
	other := e.register(t, "amy@example.com", "plum tree 42", c)
	// Rows keyed by the account that must go too: a pending reset with its budgets, a failed
	// login from elsewhere, a pending verification link.
	if _, err := e.store.RequestPasswordReset(ctx, auth.ResetRequest{
		Email: "zoe@example.com", Client: testClient, TokenHash: bytes.Repeat([]byte{7}, 32),
		At: e.clock(), ExpiresAt: e.clock().Add(30 * time.Minute), Policy: auth.DefaultResetPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.ReplaceVerification(ctx, auth.NewVerification{
		UserID: s1.userID, TokenHash: bytes.Repeat([]byte{8}, 32), CreatedAt: e.clock(), ExpiresAt: e.clock().Add(time.Hour),
	}, auth.VerificationBudgets(s1.userID)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Login(ctx, "zoe@example.com", "wrong guess 1", "192.0.2.1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatal(err)
	}
	// A wrong second factor from when the account had no email: throttled under its id.
	byID := auth.NewLoginKey("user:"+s1.userID, "192.0.2.2")
	if err := e.store.UpdateLoginThrottle(ctx, byID, func(st *auth.LoginThrottleState) { st.Failures, st.LastFailure = 1, e.clock() }); err != nil {
		t.Fatal(err)
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM login_throttle WHERE account = $1`, byID.Account); n != 1 {
		t.Fatalf("setup: %d throttle rows under the account's id; want 1 (is it still keyed \"user:<id>\"?)", n)
	}
	before := userRows(t, e, s1.userID, "zoe@example.com")
	for table, n := range before {
		if n == 0 && table != "oauth_identities" { // a password account: the next test has one
			t.Fatalf("setup: no %s row to erase", table)
		}
	}

	// Re-authentication first: nothing changes on a refusal.
	for pw, want := range map[string]string{"": "password: required", "plum tree 43": "password: is not your current password"} {
		err := e.svc.DeleteAccount(ctx, s1.userID, s1.sessionID, auth.Reauth{Password: pw}, testClient)
		if !errors.Is(err, domainerr.ErrInvalidArgument) || err.Error() != want {
			t.Fatalf("DeleteAccount(%q) = %v, want InvalidArgument %q", pw, err, want)
		}
	}
	if got := userRows(t, e, s1.userID, "zoe@example.com"); got["users"] != 1 || got["sessions"] != 2 {
		t.Fatalf("a refused deletion changed rows: %v", got)
	}

	if err := e.svc.DeleteAccount(ctx, s1.userID, s1.sessionID, auth.Reauth{Password: "plum tree 42"}, testClient); err != nil {
		t.Fatal(err)
	}
	for table, n := range userRows(t, e, s1.userID, "zoe@example.com") {
		if n != 0 {
			t.Errorf("%d %s rows of the deleted account remain", n, table)
		}
	}
	var deletedAt time.Time
	if err := e.pool.QueryRow(ctx, `SELECT deleted_at FROM deleted_users WHERE id = $1`, s1.userID).Scan(&deletedAt); err != nil || !deletedAt.Equal(e.clock()) {
		t.Fatalf("tombstone: %v, %v; want one at %v", deletedAt, err, e.clock())
	}

	// Every session ended with its own SessionRevoked before UserDeleted, all keyed by the user.
	rows, err := e.pool.Query(ctx, `SELECT ce_type, key, payload FROM outbox WHERE key = $1 ORDER BY id`, s1.userID)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	var revoked []string
	var deleted eventsv1.UserDeleted
	for rows.Next() {
		var typ, key string
		var payload []byte
		if err := rows.Scan(&typ, &key, &payload); err != nil {
			t.Fatal(err)
		}
		types = append(types, typ)
		switch typ {
		case typeRevoked:
			var ev eventsv1.SessionRevoked
			if err := proto.Unmarshal(payload, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.GetReason() == auth.RevokeAccountDeleted {
				revoked = append(revoked, ev.GetSessionId())
			}
		case typeUserDeleted:
			if err := proto.Unmarshal(payload, &deleted); err != nil {
				t.Fatal(err)
			}
		}
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	slices.Sort(revoked)
	want := []string{s1.sessionID, s2.sessionID}
	slices.Sort(want)
	if !slices.Equal(revoked, want) {
		t.Fatalf("sessions revoked for the deletion: %v; want %s and %s", revoked, s1.sessionID, s2.sessionID)
	}
	if types[len(types)-1] != typeUserDeleted || deleted.GetUserId() != s1.userID || !deleted.GetDeletedAt().AsTime().Equal(e.clock()) {
		t.Fatalf("events %v; last %v: want UserDeleted for %s at %v", types, &deleted, s1.userID, e.clock())
	}

	// Nothing of the account works any more; asking again says it is gone.
	if _, _, err := e.svc.Login(ctx, "zoe@example.com", "plum tree 42", testClient); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("login after deletion: %v", err)
	}
	for _, s := range []signedIn{s1, s2} {
		if _, _, err := e.svc.RefreshToken(ctx, s.tokens.RefreshToken); !errors.Is(err, domainerr.ErrUnauthenticated) {
			t.Errorf("refresh after deletion: %v", err)
		}
	}
	if _, err := e.svc.GetMe(ctx, s1.userID); !errors.Is(err, auth.ErrAccountNotFound) {
		t.Errorf("GetMe after deletion: %v", err)
	}
	if err := e.svc.DeleteAccount(ctx, s1.userID, s1.sessionID, auth.Reauth{Password: "plum tree 42"}, testClient); !errors.Is(err, auth.ErrAccountNotFound) {
		t.Errorf("second deletion: %v", err)
	}
	if n := len(outboxRows(t, e.pool, typeUserDeleted)); n != 1 {
		t.Errorf("%d UserDeleted events, want 1", n)
	}

	// The id is never used again; the email is free for a new account.
	_, err = e.pool.Exec(ctx, `INSERT INTO users (id, email, created_at) VALUES ($1, 'new@example.com', now())`, s1.userID)
	if err == nil || !strings.Contains(err.Error(), "deleted account") {
		t.Errorf("reusing a deleted id: %v", err)
	}
	again := e.register(t, "zoe@example.com", "plum tree 42", c)
	if again.userID == s1.userID {
		t.Error("a new account got the deleted id")
	}
	// The other account is untouched.
	if _, _, err := e.svc.RefreshToken(ctx, other.tokens.RefreshToken); err != nil {
		t.Errorf("another account's session: %v", err)
	}
}

func TestDeleteAccountWithoutPasswordNeedsAFreshSignIn(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	userID := "0190b6b1-7f3a-7c2e-9d4b-5a6c7d8e9f0a"
	session := func(id string) auth.NewSession {
		return auth.NewSession{ID: id, UserID: userID, Method: "oauth:dex", CreatedAt: e.clock(),
			RefreshTokenHash: sha256Of(id), RefreshTokenExpiresAt: e.clock().Add(time.Hour)}
	}
	err := e.store.CreateAccount(ctx, auth.NewAccount{
		UserID: userID, Email: "ola@example.com", EmailVerified: true, Method: "oauth:dex", Nickname: "ola", CreatedAt: e.clock(),
		Identity: &auth.Identity{Provider: "dex", Subject: "sub-ola", Email: "ola@example.com", EmailVerified: true},
		Session:  session("0190b6b1-7f3a-7c2e-9d4b-5a6c7d8e9f0b"),
	})
	if err != nil {
		t.Fatal(err)
	}
	old := "0190b6b1-7f3a-7c2e-9d4b-5a6c7d8e9f0b"

	e.advance(auth.ReauthWindow + time.Second)
	if err := e.svc.DeleteAccount(ctx, userID, old, auth.Reauth{Password: ""}, testClient); !errors.Is(err, auth.ErrReauthRequired) {
		t.Fatalf("from a session older than the window: %v, want ErrReauthRequired", err)
	}
	if err := e.svc.DeleteAccount(ctx, userID, old, auth.Reauth{Password: "anything"}, testClient); !errors.Is(err, auth.ErrPasswordNotExpected) {
		t.Fatalf("with a password: %v, want ErrPasswordNotExpected", err)
	}
	if err := e.svc.DeleteAccount(ctx, userID, "0190b6b1-7f3a-7c2e-9d4b-5a6c7d8e9f0c", auth.Reauth{Password: ""}, testClient); !errors.Is(err, domainerr.ErrUnauthenticated) {
		t.Fatalf("from an unknown session: %v, want Unauthenticated", err)
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM users WHERE id = $1`, userID); n != 1 {
		t.Fatal("a refused deletion deleted the account")
	}

	// A fresh sign-in is the re-authentication.
	fresh := "0190b6b1-7f3a-7c2e-9d4b-5a6c7d8e9f0d"
	if err := e.store.CreateSession(ctx, session(fresh)); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Minute)
	if err := e.svc.DeleteAccount(ctx, userID, fresh, auth.Reauth{Password: ""}, testClient); err != nil {
		t.Fatal(err)
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM deleted_users WHERE id = $1`, userID); n != 1 {
		t.Errorf("%d tombstones, want 1", n)
	}
	for table, n := range userRows(t, e, userID, "ola@example.com") {
		if n != 0 {
			t.Errorf("%d %s rows of the deleted account remain", n, table)
		}
	}
	// The provider identity is free: signing in with it again would create a new account.
	if _, err := e.store.IdentityUser(ctx, "dex", "sub-ola"); !errors.Is(err, domainerr.ErrNotFound) {
		t.Errorf("identity after deletion: %v", err)
	}
}

func sha256Of(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

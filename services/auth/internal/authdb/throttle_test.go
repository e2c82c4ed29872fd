package authdb_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/pgtest"

	"github.com/parleyhq/parley/services/auth/internal/auth"
	"github.com/parleyhq/parley/services/auth/internal/authtest"
)

// throttleEnv is a service with its own hasher (to count argon2 work) and a small policy.
type throttleEnv struct {
	*env
	svc    *auth.Service
	hasher *auth.PasswordHasher
}

var testPolicy = auth.ThrottlePolicy{
	FreeFailures:       3,
	BaseDelay:          time.Second,
	MaxDelay:           8 * time.Second,
	ForgetAfter:        time.Hour,
	AccountMaxFailures: 10,
	AccountWindow:      15 * time.Minute,
	FamiliarFor:        24 * time.Hour,
}

func newThrottleEnv(t *testing.T) *throttleEnv {
	t.Helper()
	e := newEnv(t)
	hasher := authtest.Hasher(t)
	svc, _ := newServiceWith(t, e.store, hasher, testPolicy, e.clock)
	return &throttleEnv{env: e, svc: svc, hasher: hasher}
}

// outcome is what one Login gave: "ok", "bad" (wrong credentials) or "wait Ns" (throttled), and
// how many argon2id keys it derived.
type outcome struct {
	result string
	hashes uint64
}

func (e *throttleEnv) login(t *testing.T, email, password, client string) outcome {
	t.Helper()
	before := e.hasher.Computed()
	_, _, err := e.svc.Login(context.Background(), email, password, client)
	o := outcome{hashes: e.hasher.Computed() - before}
	var de *domainerr.Error
	switch {
	case err == nil:
		o.result = "ok"
	case errors.Is(err, auth.ErrBadCredentials):
		o.result = "bad"
	case errors.Is(err, auth.ErrTooManyAttempts) && errors.As(err, &de):
		o.result = "wait " + de.RetryAfter.String()
	default:
		t.Fatalf("Login(%s from %s) = %v", email, client, err)
	}
	return o
}

func (e *throttleEnv) want(t *testing.T, got outcome, result string) {
	t.Helper()
	if got.result != result {
		t.Fatalf("Login gave %q; want %q", got.result, result)
	}
	wantHashes := uint64(1)
	if result != "ok" && result != "bad" {
		wantHashes = 0 // a throttled attempt costs no hashing
	}
	if got.hashes != wantHashes {
		t.Fatalf("Login (%s) derived %d argon2id keys; want %d", result, got.hashes, wantHashes)
	}
}

// TestLoginBacksOffPerAccountAndClient: failures from one client make that client wait, doubling
// up to the maximum; the owner signing in from another client is not affected; waiting out the
// back-off lets the client try again, and a success resets it.
func TestLoginBacksOffPerAccountAndClient(t *testing.T) {
	e := newThrottleEnv(t)
	if _, _, err := e.svc.Register(context.Background(), "owner@example.com", "plum tree 42", "owner"); err != nil {
		t.Fatal(err)
	}
	const attacker, home = "203.0.113.9", "198.51.100.7"

	for i := 0; i < 3; i++ { // FreeFailures = 3; the third starts the back-off
		e.want(t, e.login(t, "owner@example.com", "guess", attacker), "bad")
	}
	e.want(t, e.login(t, "owner@example.com", "plum tree 42", attacker), "wait 1s") // even the right password
	e.want(t, e.login(t, "owner@example.com", "plum tree 42", home), "ok")          // the owner elsewhere is not locked out

	e.advance(time.Second)
	e.want(t, e.login(t, "owner@example.com", "guess", attacker), "bad")
	e.want(t, e.login(t, "owner@example.com", "guess", attacker), "wait 2s")
	for _, d := range []string{"2s", "4s", "8s", "8s"} { // doubling, capped at MaxDelay
		dur, _ := time.ParseDuration(d)
		e.advance(dur)
		e.want(t, e.login(t, "owner@example.com", "guess", attacker), "bad")
	}
	e.want(t, e.login(t, "owner@example.com", "guess", attacker), "wait 8s")

	// A success from the client clears its failures: the free attempts are back.
	e.advance(8 * time.Second)
	e.want(t, e.login(t, "owner@example.com", "plum tree 42", attacker), "ok")
	e.want(t, e.login(t, "owner@example.com", "guess", attacker), "bad")
	e.want(t, e.login(t, "owner@example.com", "guess", attacker), "bad")

	// Failures are forgotten after ForgetAfter without one.
	e.want(t, e.login(t, "owner@example.com", "guess", attacker), "bad")
	e.want(t, e.login(t, "owner@example.com", "guess", attacker), "wait 1s")
	e.advance(time.Hour)
	for i := 0; i < 2; i++ {
		e.want(t, e.login(t, "owner@example.com", "guess", attacker), "bad")
	}
}

// TestLoginThrottleTreatsUnknownEmailsAlike: the same sequence of attempts against a registered
// and an unregistered email gives the same answers and the same hashing work, so throttling tells
// nothing about which emails have accounts.
func TestLoginThrottleTreatsUnknownEmailsAlike(t *testing.T) {
	e := newThrottleEnv(t)
	if _, _, err := e.svc.Register(context.Background(), "known@example.com", "plum tree 42", "known"); err != nil {
		t.Fatal(err)
	}
	run := func(email string) []outcome {
		var out []outcome
		for i := 0; i < 5; i++ {
			out = append(out, e.login(t, email, "guess", "203.0.113.9"))
		}
		return out
	}
	known, unknown := run("known@example.com"), run("nobody@example.com")
	want := []string{"bad", "bad", "bad", "wait 1s", "wait 1s"}
	for i := range want {
		if known[i] != unknown[i] || known[i].result != want[i] {
			t.Fatalf("attempt %d: known email %+v, unknown email %+v; want both %q", i+1, known[i], unknown[i], want[i])
		}
	}
}

// TestLoginAccountCeiling: failures from many clients add up per account; past the ceiling,
// clients the account never signed in from are refused until the window ends, while a client the
// owner signed in from recently keeps working.
func TestLoginAccountCeiling(t *testing.T) {
	e := newThrottleEnv(t)
	if _, _, err := e.svc.Register(context.Background(), "owner@example.com", "plum tree 42", "owner"); err != nil {
		t.Fatal(err)
	}
	const home = "198.51.100.7"
	e.want(t, e.login(t, "owner@example.com", "plum tree 42", home), "ok") // home becomes familiar

	for i := 0; i < 10; i++ { // AccountMaxFailures = 10, each from a fresh address
		e.want(t, e.login(t, "owner@example.com", "guess", fmt.Sprintf("203.0.113.%d", 10+i)), "bad")
	}
	e.advance(5 * time.Minute)
	e.want(t, e.login(t, "owner@example.com", "guess", "192.0.2.1"), "wait 10m0s") // the rest of the window
	e.want(t, e.login(t, "owner@example.com", "plum tree 42", "192.0.2.2"), "wait 10m0s")
	e.want(t, e.login(t, "owner@example.com", "plum tree 42", home), "ok") // the owner at home is not locked out
	// Other accounts are not affected.
	e.want(t, e.login(t, "someone-else@example.com", "guess", "192.0.2.1"), "bad")

	e.advance(10 * time.Minute)
	e.want(t, e.login(t, "owner@example.com", "plum tree 42", "192.0.2.2"), "ok")
}

// TestDeleteStaleLoginThrottle: the clean-up removes rows that no longer matter and keeps running
// back-offs, recent failures and familiar clients.
func TestDeleteStaleLoginThrottle(t *testing.T) {
	e := newThrottleEnv(t)
	ctx := context.Background()
	if _, _, err := e.svc.Register(ctx, "owner@example.com", "plum tree 42", "owner"); err != nil {
		t.Fatal(err)
	}
	e.want(t, e.login(t, "owner@example.com", "plum tree 42", "198.51.100.7"), "ok") // familiar for 24h
	e.want(t, e.login(t, "old@example.com", "guess", "203.0.113.1"), "bad")
	e.advance(2 * time.Hour) // past ForgetAfter (1h) and the account window (15m)
	e.want(t, e.login(t, "new@example.com", "guess", "203.0.113.1"), "bad")

	if _, err := e.store.DeleteStaleLoginThrottle(ctx, e.clock(), testPolicy); err != nil {
		t.Fatal(err)
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM login_throttle`); n != 2 {
		t.Fatalf("%d account × client rows left; want 2 (the familiar client and the recent failure)", n)
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM login_throttle_accounts`); n != 1 {
		t.Fatalf("%d account rows left; want 1 (the window still running)", n)
	}
	e.advance(25 * time.Hour)
	if _, err := e.store.DeleteStaleLoginThrottle(ctx, e.clock(), testPolicy); err != nil {
		t.Fatal(err)
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM login_throttle`) + pgtest.Count(t, e.pool, `SELECT count(*) FROM login_throttle_accounts`); n != 0 {
		t.Fatalf("%d throttle rows left after everything went stale; want 0", n)
	}
}

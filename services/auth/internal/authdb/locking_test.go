package authdb_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/platform/domainerr"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

// Every transaction that changes a user's sessions, credentials or links takes the user's row
// first (store.go, "Lock order"). Run them against each other on one account: logouts,
// refreshes, a reused refresh token, revoking by id and "everywhere else", password changes and
// resets. With two lock orders (the sessions first in some, the user first in others) Postgres
// aborts one of a pair with "deadlock detected", which surfaces here as an internal error.
func TestConcurrentAccountChangesDoNotDeadlock(t *testing.T) {
	e := newEnv(t)
	box := e.withMailer(t)
	ctx := context.Background()
	c := auth.Client{Network: testClient}
	first := e.register(t, "zed@example.com", "plum tree 42", c)
	password := "plum tree 42"
	for round := range 5 {
		e.advance(time.Hour) // a new window of the per-email reset budget
		var sessions []signedIn
		for range 6 {
			sessions = append(sessions, e.login(t, "zed@example.com", password, c))
		}
		if err := e.svc.RequestPasswordReset(ctx, "zed@example.com", testClient); err != nil {
			t.Fatal(err)
		}
		e.svc.WaitBackground()
		reset := box.last(t)
		next := []string{"apple orchard 7", "pear grove 9"}[round%2]
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		run := func(f func() error) { wg.Go(func() { errs <- f() }) }
		run(func() error { return e.svc.Logout(ctx, sessions[0].tokens.RefreshToken) })
		run(func() error { _, _, err := e.svc.RefreshToken(ctx, sessions[1].tokens.RefreshToken); return err })
		run(func() error { _, _, err := e.svc.RefreshToken(ctx, sessions[1].tokens.RefreshToken); return err }) // reuse
		run(func() error { return e.svc.RevokeSession(ctx, first.userID, sessions[2].sessionID) })
		run(func() error {
			_, err := e.svc.RevokeOtherSessions(ctx, first.userID, sessions[3].sessionID)
			return err
		})
		run(func() error {
			_, err := e.svc.ChangePassword(ctx, first.userID, sessions[4].sessionID, password, next, testClient)
			return err
		})
		run(func() error { return e.svc.ResetPassword(ctx, reset.Token, next) })
		wg.Wait()
		close(errs)
		for err := range errs {
			// Refusals are fine (a session ended by a racing call, a password changed meanwhile);
			// anything else — a deadlock is an internal error — is not.
			var de *domainerr.Error
			if err != nil && !errors.As(err, &de) {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		password = next
	}
}

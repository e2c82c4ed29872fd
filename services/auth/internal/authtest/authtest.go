// Package authtest holds what the auth service's tests share across its packages: a fresh
// database, and the service's parts at their cheapest for tests.
package authtest

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/services/auth/internal/auth"
	"github.com/parleyhq/parley/services/auth/internal/authdb"
)

// NewDB returns a fresh database with the events and auth migrations applied, as the service's
// run applies them.
func NewDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return pgtest.New(t,
		pgtest.Migration{Component: "events", Files: events.Migrations},
		pgtest.Migration{Component: "auth", Files: authdb.Migrations})
}

// Tokens returns access tokens signed with a key of their own (made in the test's temporary
// directory), issuer and audience "parley", valid for 15 minutes.
func Tokens(t testing.TB) *auth.AccessTokens {
	t.Helper()
	key, _, err := auth.LoadSigningKey(filepath.Join(t.TempDir(), "signing.json"), true)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewAccessTokens(key, nil, "parley", "parley", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

// Hasher returns a password hasher at the cheapest Argon2 parameters the service accepts
// (auth.MinArgon2Params), 4 hashes at once, waiting up to 10 s for a turn.
func Hasher(t testing.TB) *auth.PasswordHasher {
	t.Helper()
	hasher, err := auth.NewPasswordHasher(auth.MinArgon2Params, 4, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return hasher
}

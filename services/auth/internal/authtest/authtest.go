// Package authtest holds what the auth service's tests share across its packages: the service's
// parts at their cheapest for tests.
package authtest

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

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

package authtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley/services/auth/internal/auth"
	"github.com/parleyhq/parley/services/auth/internal/authtest"
)

// Tokens issue tokens that expire in 15 minutes under a key of their own; Hasher hashes at the
// minimum parameters.
func TestHelpers(t *testing.T) {
	a, b := authtest.Tokens(t), authtest.Tokens(t)
	if a.KeyID() == "" || a.KeyID() == b.KeyID() {
		t.Errorf("key ids %q and %q; want two distinct keys", a.KeyID(), b.KeyID())
	}
	now := time.Now()
	tok, exp, err := a.Issue("u1", "s1", true, now)
	if err != nil || tok == "" || exp.Sub(now) <= 15*time.Minute-time.Second || exp.Sub(now) > 15*time.Minute {
		t.Errorf("Issue = %q, %v, %v; want a token expiring in 15 minutes", tok, exp, err)
	}

	h := authtest.Hasher(t)
	if h.Params() != auth.MinArgon2Params {
		t.Errorf("hasher params %+v, want the minimum", h.Params())
	}
	encoded, err := h.Hash(context.Background(), "secret")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := h.Verify(context.Background(), "secret", encoded); !ok || err != nil {
		t.Errorf("Verify = %v, %v; want the password accepted", ok, err)
	}
}

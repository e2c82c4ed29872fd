package authoidc_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/services/auth/internal/auth"
	"github.com/parleyhq/parley/services/auth/internal/authoidc"
	"github.com/parleyhq/parley/services/auth/internal/authoidc/oidctest"
)

const redirectURI = "http://localhost:8080/oauth/callback"

// exchange runs one authorization-code round trip against idp and returns what the provider
// client made of the ID token.
func exchange(t *testing.T, p *authoidc.Provider, idp *oidctest.Provider) (auth.Identity, error) {
	t.Helper()
	ctx := context.Background()
	const verifier = "a-pkce-verifier-long-enough-to-be-a-real-one-0123456789"
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	u, err := p.AuthorizationURL(ctx, "some-state", "the-nonce", challenge, redirectURI)
	if err != nil {
		t.Fatal(err)
	}
	code := idp.Authorize(t, u, "subject-1", map[string]any{"email": "a@example.com", "email_verified": true})
	return p.Exchange(ctx, code, verifier, redirectURI, "the-nonce")
}

// TestIDTokenRejections: an ID token is accepted only when the provider's published key signed it,
// for this client, from the configured issuer, unexpired, and with an expiry at all.
func TestIDTokenRejections(t *testing.T) {
	idp := oidctest.New(t, "parley-client", "secret")
	p, err := authoidc.New(context.Background(), authoidc.Config{
		ID: "dev", Issuer: idp.URL, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret, RedirectURIs: []string{redirectURI},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}

	// The untampered token is accepted, so every refusal below is caused by its one change.
	id, err := exchange(t, p, idp)
	if err != nil || id.Subject != "subject-1" || id.Email != "a@example.com" || !id.EmailVerified {
		t.Fatalf("valid ID token: %+v, %v", id, err)
	}

	cases := []struct {
		name    string
		tamper  func(claims map[string]any)
		foreign bool
	}{
		{name: "wrong issuer", tamper: func(c map[string]any) { c[jwt.IssuerKey] = "https://evil.example" }},
		{name: "wrong audience", tamper: func(c map[string]any) { c[jwt.AudienceKey] = []string{"another-client"} }},
		{name: "expired", tamper: func(c map[string]any) {
			c[jwt.IssuedAtKey] = time.Now().Add(-time.Hour)
			c[jwt.ExpirationKey] = time.Now().Add(-10 * time.Minute) // well past the 1 min skew
		}},
		{name: "no expiry", tamper: func(c map[string]any) { delete(c, jwt.ExpirationKey) }},
		{name: "issued in the future", tamper: func(c map[string]any) { c[jwt.IssuedAtKey] = time.Now().Add(time.Hour) }},
		{name: "bad signature", foreign: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			idp.TamperIDTokens(tc.tamper)
			idp.SignWithForeignKey(tc.foreign)
			defer idp.TamperIDTokens(nil)
			defer idp.SignWithForeignKey(false)
			id, err := exchange(t, p, idp)
			if !errors.Is(err, domainerr.ErrUnauthenticated) {
				t.Fatalf("Exchange = %+v, %v; want ErrUnauthenticated", id, err)
			}
		})
	}
}

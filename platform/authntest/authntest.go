// Package authntest stands in for the auth service in tests: it signs access tokens the way the
// auth service does (EdDSA with a key id; iss and aud "parley"; sub, sid, iat, exp) with a key
// pair made for the test, and serves the public half as a JWKS over HTTP.
//
// Use it wherever a test needs a valid (or deliberately invalid) access token: a service's
// handler tests verify with Verifier (no network), run tests point AUTH_JWKS_URL at JWKSURL.
// platform/authn's own tests do not use it: they craft malformed tokens by hand, and importing
// this package from inside authn would be an import cycle.
package authntest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/parleyhq/parley/platform/authn"
)

// The claims the services expect by default (JWT_ISSUER, JWT_AUDIENCE), and the key id the
// issuer signs with.
const (
	Issuer   = "parley"
	Audience = "parley"
	KeyID    = "test-key"
)

// DefaultTTL is how long a token lives unless TTL says otherwise.
const DefaultTTL = 10 * time.Minute

// TokenIssuer signs access tokens with its own key and serves the public key as a JWKS.
type TokenIssuer struct {
	key     jwk.Key
	public  jwk.Set
	jwksURL string
}

// New makes a key pair and starts a JWKS server for it, closed when the test ends. Two issuers
// have different keys: a token of one is forged for the other's verifier.
func New(t testing.TB) *TokenIssuer {
	t.Helper()
	_, raw, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{jwk.KeyIDKey: KeyID, jwk.AlgorithmKey: jwa.EdDSA, jwk.KeyUsageKey: "sig"} {
		if err := key.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := key.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	return &TokenIssuer{key: key, public: set, jwksURL: srv.URL + "/.well-known/jwks.json"}
}

// JWKSURL is where the public key is served, as the auth service's /.well-known/jwks.json (the
// value for AUTH_JWKS_URL).
func (i *TokenIssuer) JWKSURL() string { return i.jwksURL }

// PublicKeys is the JWKS the tokens verify with.
func (i *TokenIssuer) PublicKeys() jwk.Set { return i.public }

// Verifier checks tokens against PublicKeys directly (no HTTP), with the default claims.
func (i *TokenIssuer) Verifier() *authn.Verifier {
	return authn.NewVerifier(authn.StaticKeys{Set: i.public}, Issuer, Audience)
}

// RemoteVerifier checks tokens as a service does: keys fetched from JWKSURL.
func (i *TokenIssuer) RemoteVerifier(t testing.TB) *authn.Verifier {
	return RemoteVerifier(t, i.jwksURL)
}

// RemoteVerifier returns a verifier fetching its keys from jwksURL (which may be down: a test of
// what a service does when the auth service cannot be reached), with the default claims.
func RemoteVerifier(t testing.TB, jwksURL string) *authn.Verifier {
	t.Helper()
	keys, err := authn.NewRemoteJWKS(t.Context(), jwksURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return authn.NewVerifier(keys, Issuer, Audience)
}

// A TokenOption changes one claim of a token from its default.
type TokenOption func(*tokenClaims)

type tokenClaims struct {
	session string
	ttl     time.Duration
	extra   map[string]any
}

// Session sets the sid claim (default "session-" + the user id).
func Session(id string) TokenOption { return func(c *tokenClaims) { c.session = id } }

// TTL sets exp to now + ttl (default DefaultTTL); a negative ttl makes an expired token.
func TTL(ttl time.Duration) TokenOption { return func(c *tokenClaims) { c.ttl = ttl } }

// Claim sets any claim, overriding the defaults (e.g. Claim("iss", "someone-else")).
func Claim(name string, value any) TokenOption {
	return func(c *tokenClaims) { c.extra[name] = value }
}

// Token signs an access token for userID: iss, aud, sub, sid, iat now, exp now + DefaultTTL,
// each changed by opts.
func (i *TokenIssuer) Token(t testing.TB, userID string, opts ...TokenOption) string {
	t.Helper()
	c := tokenClaims{session: "session-" + userID, ttl: DefaultTTL, extra: map[string]any{}}
	for _, o := range opts {
		o(&c)
	}
	now := time.Now()
	b := jwt.NewBuilder().Issuer(Issuer).Audience([]string{Audience}).Subject(userID).
		IssuedAt(now).Expiration(now.Add(c.ttl)).Claim("sid", c.session)
	for k, v := range c.extra {
		b = b.Claim(k, v)
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA, i.key))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

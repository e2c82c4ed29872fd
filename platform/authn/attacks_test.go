package authn

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Tokens an attacker can mint: the verifier must take its keys only from the configured key
// source and refuse every claim that says the token is not valid now.

func wantInvalid(t *testing.T, v *Verifier, raw string) {
	t.Helper()
	if p, err := v.Verify(context.Background(), raw); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("Verify = %+v, %v; want ErrInvalidToken", p, err)
	}
}

func TestVerifyRejectsTokensNotValidYet(t *testing.T) {
	k := newKeyPair(t, "k1")
	v := NewVerifier(StaticKeys{Set: k.set(t)}, "parley", "parley")
	future := time.Now().Add(time.Hour)
	t.Run("nbf in the future", func(t *testing.T) {
		wantInvalid(t, v, k.sign(t, func(b *jwt.Builder) *jwt.Builder {
			return b.NotBefore(future).Expiration(future.Add(time.Minute))
		}))
	})
	t.Run("iat in the future", func(t *testing.T) {
		wantInvalid(t, v, k.sign(t, func(b *jwt.Builder) *jwt.Builder {
			return b.IssuedAt(future).Expiration(future.Add(time.Minute))
		}))
	})
	// Within the 30 s skew allowed for clocks that differ a little, both are accepted.
	if _, err := v.Verify(context.Background(), k.sign(t, func(b *jwt.Builder) *jwt.Builder {
		soon := time.Now().Add(10 * time.Second)
		return b.NotBefore(soon).IssuedAt(soon)
	})); err != nil {
		t.Fatalf("nbf and iat 10s ahead (within the skew): %v", err)
	}
}

func TestVerifyRejectsUnknownOrMissingKeyID(t *testing.T) {
	k := newKeyPair(t, "k1")
	v := NewVerifier(StaticKeys{Set: k.set(t)}, "parley", "parley")
	t.Run("unknown kid", func(t *testing.T) { wantInvalid(t, v, newKeyPair(t, "k2").sign(t, nil)) })
	// Even the right key is not looked for under another name.
	t.Run("the right key under an unknown kid", func(t *testing.T) { wantInvalid(t, v, signRaw(t, k, "k1-renamed", nil)) })
	t.Run("no kid", func(t *testing.T) { wantInvalid(t, v, signRaw(t, k, "", nil)) })
}

// signRaw signs a valid claim set with key's private half given as a bare key, so the header has
// exactly kid (none when "") and headers.
func signRaw(t *testing.T, key keyPair, kid string, headers map[string]any) string {
	t.Helper()
	tok, err := jwt.NewBuilder().Issuer("parley").Audience([]string{"parley"}).Subject("user-1").
		IssuedAt(time.Now()).Expiration(time.Now().Add(time.Minute)).Build()
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	if kid != "" {
		_ = hdr.Set(jws.KeyIDKey, kid)
	}
	for name, val := range headers {
		if err := hdr.Set(name, val); err != nil {
			t.Fatalf("set %s: %v", name, err)
		}
	}
	var rawKey any
	if err := key.private.Raw(&rawKey); err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA, rawKey, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// unsignedToken builds "header.payload." by hand: libraries refuse to sign alg none with a kid.
func unsignedToken(t *testing.T, header map[string]any) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(map[string]any{
		"iss": "parley", "aud": "parley", "sub": "user-1", "sid": "session-1",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(p) + "."
}

func TestVerifyRejectsAlgNoneWithAKnownKeyID(t *testing.T) {
	k := newKeyPair(t, "k1")
	v := NewVerifier(StaticKeys{Set: k.set(t)}, "parley", "parley")
	for _, alg := range []string{"none", "None", "NONE"} {
		t.Run(alg, func(t *testing.T) {
			wantInvalid(t, v, unsignedToken(t, map[string]any{"alg": alg, "kid": "k1", "typ": "JWT"}))
		})
	}
	// The header claims EdDSA but there is no signature.
	t.Run("EdDSA without signature", func(t *testing.T) {
		wantInvalid(t, v, unsignedToken(t, map[string]any{"alg": "EdDSA", "kid": "k1", "typ": "JWT"}))
	})
}

// TestVerifyIgnoresKeysNamedByTheToken: jku, x5u and an embedded jwk point at keys the attacker
// controls. The verifier never fetches them and never uses them: a token signed by the attacker is
// refused whatever its headers say, and a genuine token carrying such headers verifies with the
// configured key alone (the headers are ignored, not trusted).
func TestVerifyIgnoresKeysNamedByTheToken(t *testing.T) {
	var attackerFetches atomic.Int64
	attacker := newKeyPair(t, "evil")
	attackerSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		attackerFetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = jsonEncode(w, attacker.set(t))
	}))
	defer attackerSrv.Close()

	k := newKeyPair(t, "k1")
	var ourFetches atomic.Int64
	ourSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		ourFetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = jsonEncode(w, k.set(t))
	}))
	defer ourSrv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keys, err := NewRemoteJWKS(ctx, ourSrv.URL, ourSrv.Client())
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(keys, "parley", "parley")

	signWith := func(key keyPair, kid string, headers map[string]any) string { return signRaw(t, key, kid, headers) }
	pointAtAttacker := map[string]any{
		jws.JWKSetURLKey: attackerSrv.URL,
		jws.X509URLKey:   attackerSrv.URL,
		jws.JWKKey:       attacker.public,
	}
	for name, raw := range map[string]string{
		"attacker's key under our kid":     signWith(attacker, "k1", pointAtAttacker),
		"attacker's key under its own kid": signWith(attacker, "evil", pointAtAttacker),
		"jku only":                         signWith(attacker, "evil", map[string]any{jws.JWKSetURLKey: attackerSrv.URL}),
		"x5u only":                         signWith(attacker, "evil", map[string]any{jws.X509URLKey: attackerSrv.URL}),
		"embedded jwk only":                signWith(attacker, "k1", map[string]any{jws.JWKKey: attacker.public}),
	} {
		t.Run(name, func(t *testing.T) { wantInvalid(t, v, raw) })
	}
	if p, err := v.Verify(ctx, signWith(k, "k1", pointAtAttacker)); err != nil || p.UserID != "user-1" {
		t.Fatalf("a genuine token with jku/x5u/jwk headers = %+v, %v; want it verified by the configured key", p, err)
	}
	if n := attackerFetches.Load(); n != 0 {
		t.Fatalf("the verifier fetched the attacker's URL %d times", n)
	}
	if n := ourFetches.Load(); n == 0 {
		t.Fatal("the configured JWKS was never fetched")
	}
}

// jwksServer serves set's keys (or fails with status when it is not 200), counting requests.
type jwksServer struct {
	*httptest.Server
	requests atomic.Int64
	status   atomic.Int64
}

func newJWKSServer(t *testing.T, k keyPair) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.status.Store(http.StatusOK)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.requests.Add(1)
		if code := int(s.status.Load()); code != http.StatusOK {
			http.Error(w, "down", code)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = jsonEncode(w, k.set(t))
	}))
	t.Cleanup(s.Close)
	return s
}

// remoteKeys returns srv's keys through NewRemoteJWKS, on a clock the test moves, fetching until
// the test ends.
func remoteKeys(t *testing.T, srv *jwksServer) (*RemoteJWKS, *fakeClock) {
	t.Helper()
	keys, err := NewRemoteJWKS(t.Context(), srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now()}
	keys.now = clock.now
	return keys, clock
}

// flood verifies n tokens at once, each signed by a key the JWKS does not have under a kid never
// seen before, and checks every one is refused.
func flood(t *testing.T, v *Verifier, n int, wantErr func(error) bool) {
	t.Helper()
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = newKeyPair(t, "forged-"+rand.Text()).sign(t, nil)
	}
	var wg sync.WaitGroup
	for _, raw := range tokens {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), raw); !wantErr(err) {
				t.Errorf("forged token: %v", err)
			}
		})
	}
	wg.Wait()
}

// TestUnknownKeyIDFloodRefetchesTheJWKSBoundedly: a token naming a kid the verifier has not seen
// makes it refetch the JWKS (key rotation), but at most once per refresh interval however many
// such tokens arrive; after the interval, once more.
func TestUnknownKeyIDFloodRefetchesTheJWKSBoundedly(t *testing.T) {
	k := newKeyPair(t, "k1")
	srv := newJWKSServer(t, k)
	ctx := t.Context()
	keys, clock := remoteKeys(t, srv)
	v := NewVerifier(keys, "parley", "parley")
	if _, err := v.Verify(ctx, k.sign(t, nil)); err != nil {
		t.Fatal(err)
	}
	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("%d JWKS requests for the first token, want 1", n)
	}
	invalid := func(err error) bool { return errors.Is(err, ErrInvalidToken) }
	flood(t, v, 200, invalid)
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("%d JWKS requests after 200 unknown kids, want 2 (one refetch)", n)
	}
	clock.advance(jwksRefreshInterval)
	flood(t, v, 50, invalid)
	if n := srv.requests.Load(); n != 3 {
		t.Fatalf("%d JWKS requests after the next interval's flood, want 3", n)
	}
}

// TestUnreachableJWKSIsNotHammered: while the JWKS cannot be fetched (the auth service down or
// failing), a flood of tokens costs at most one attempt per retry interval, and the callers are
// told at once that tokens cannot be checked (not ErrInvalidToken: clients should retry).
func TestUnreachableJWKSIsNotHammered(t *testing.T) {
	k := newKeyPair(t, "k1")
	srv := newJWKSServer(t, k)
	srv.status.Store(http.StatusInternalServerError)
	ctx := t.Context()
	keys, clock := remoteKeys(t, srv)
	v := NewVerifier(keys, "parley", "parley")
	unavailable := func(err error) bool { return err != nil && !errors.Is(err, ErrInvalidToken) }
	flood(t, v, 100, unavailable)
	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("%d JWKS requests for 100 tokens while it fails, want 1", n)
	}
	// The auth service is back; after the retry interval the next token fetches the keys again.
	srv.status.Store(http.StatusOK)
	clock.advance(jwksRetryInterval)
	if _, err := v.Verify(ctx, k.sign(t, nil)); err != nil {
		t.Fatalf("after the JWKS came back: %v", err)
	}
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("%d JWKS requests in all, want 2", n)
	}
}

// Ready is the readiness check of a process that verifies tokens: not ready until the keys have
// been fetched once, then ready even while the auth service is away (the cached keys serve).
func TestRemoteJWKSReadyOnceTheKeysAreFetched(t *testing.T) {
	k := newKeyPair(t, "k1")
	srv := newJWKSServer(t, k)
	srv.status.Store(http.StatusServiceUnavailable)
	ctx := t.Context()
	keys, clock := remoteKeys(t, srv)
	if err := keys.Ready(ctx); err == nil {
		t.Fatal("ready without keys")
	}
	srv.status.Store(http.StatusOK)
	clock.advance(jwksRetryInterval)
	if err := keys.Ready(ctx); err != nil {
		t.Fatalf("not ready once the keys can be fetched: %v", err)
	}
	srv.status.Store(http.StatusServiceUnavailable)
	if err := keys.Ready(ctx); err != nil {
		t.Fatalf("not ready while the auth service is away, with the keys fetched: %v", err)
	}
	if _, err := NewVerifier(keys, "parley", "parley").Verify(ctx, k.sign(t, nil)); err != nil {
		t.Fatalf("verify with the cached keys: %v", err)
	}
}

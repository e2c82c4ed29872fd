// Package oidctest is a minimal in-process OpenID Connect provider for tests: discovery, JWKS,
// an authorization step driven by the test (no browser) and a token endpoint that checks the
// client, the redirect URI and the PKCE verifier.
package oidctest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Provider is the fake provider.
type Provider struct {
	URL          string // the issuer
	ClientID     string
	ClientSecret string

	key jwk.Key
	srv *httptest.Server

	mu            sync.Mutex
	codes         map[string]grant
	nonceOverride string
	tamper        func(claims map[string]any)
	foreignKey    jwk.Key
}

// TamperIDTokens makes the provider pass the claims of every ID token it issues through fn
// (delete "exp", change "iss" or "aud", …) before signing; nil stops it. It tests that the service
// checks what the provider signs.
func (p *Provider) TamperIDTokens(fn func(claims map[string]any)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tamper = fn
}

// SignWithForeignKey makes the provider sign ID tokens with a key it does not publish, under the
// published key's id, so the signature does not verify (false stops it).
func (p *Provider) SignWithForeignKey(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.foreignKey = nil
	if on {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		key, _ := jwk.FromRaw(priv)
		_ = key.Set(jwk.KeyIDKey, p.key.KeyID())
		p.foreignKey = key
	}
}

// OverrideNonce makes the provider put nonce in its ID tokens instead of the flow's ("" stops it),
// to test that the service checks it.
func (p *Provider) OverrideNonce(nonce string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nonceOverride = nonce
}

type grant struct {
	challenge, redirect, nonce string
	claims                     map[string]any
}

// New starts a provider for one client, stopped when the test ends.
func New(t testing.TB, clientID, clientSecret string) *Provider {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	key, err := jwk.FromRaw(priv)
	if err != nil {
		t.Fatal(err)
	}
	_ = key.Set(jwk.KeyIDKey, "test-key-1") // no "alg": like many real providers' JWKS
	p := &Provider{ClientID: clientID, ClientSecret: clientSecret, key: key, codes: map[string]grant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                 p.URL,
			"authorization_endpoint": p.URL + "/authorize",
			"token_endpoint":         p.URL + "/token",
			"jwks_uri":               p.URL + "/jwks",
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		pub, _ := p.key.PublicKey()
		set := jwk.NewSet()
		_ = set.AddKey(pub)
		writeJSON(w, http.StatusOK, set)
	})
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	p.URL = p.srv.URL
	return p
}

// Authorize plays the person consenting at the provider: it checks the authorization URL the
// service built and returns the code the provider would send to the redirect URI, for a person
// with the given subject and extra ID-token claims (email, email_verified, name, …).
func (p *Provider) Authorize(t testing.TB, authorizationURL, subject string, claims map[string]any) string {
	t.Helper()
	u, err := url.Parse(authorizationURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme+"://"+u.Host != p.URL || u.Path != "/authorize" {
		t.Fatalf("authorization URL %s is not this provider's", authorizationURL)
	}
	for k, want := range map[string]string{"response_type": "code", "client_id": p.ClientID, "code_challenge_method": "S256"} {
		if q.Get(k) != want {
			t.Fatalf("authorization URL %s=%q; want %q", k, q.Get(k), want)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge", "redirect_uri", "scope"} {
		if q.Get(k) == "" {
			t.Fatalf("authorization URL lacks %s", k)
		}
	}
	all := map[string]any{"sub": subject}
	for k, v := range claims {
		all[k] = v
	}
	code := random()
	p.mu.Lock()
	p.codes[code] = grant{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), nonce: q.Get("nonce"), claims: all}
	p.mu.Unlock()
	return code
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, secret, ok := r.BasicAuth()
	if p.ClientSecret != "" {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		if !ok || id != p.ClientID || secret != p.ClientSecret {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
			return
		}
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "authorization_code" || r.PostForm.Get("client_id") != p.ClientID {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	g, found := p.codes[r.PostForm.Get("code")]
	delete(p.codes, r.PostForm.Get("code")) // codes work once
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if !found || g.redirect != r.PostForm.Get("redirect_uri") || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	}
	now := time.Now()
	claims := map[string]any{
		jwt.IssuerKey:     p.URL,
		jwt.AudienceKey:   []string{p.ClientID},
		jwt.IssuedAtKey:   now,
		jwt.ExpirationKey: now.Add(5 * time.Minute),
		"nonce":           g.nonce,
	}
	if p.nonceOverride != "" {
		claims["nonce"] = p.nonceOverride
	}
	for k, v := range g.claims {
		claims[k] = v
	}
	if p.tamper != nil {
		p.tamper(claims)
	}
	key := p.key
	if p.foreignKey != nil {
		key = p.foreignKey
	}
	tok := jwt.New()
	var err error
	for k, v := range claims {
		if err = tok.Set(k, v); err != nil {
			break
		}
	}
	if err == nil {
		var signed []byte
		if signed, err = jwt.Sign(tok, jwt.WithKey(jwa.EdDSA, key)); err == nil {
			writeJSON(w, http.StatusOK, map[string]any{"access_token": random(), "token_type": "Bearer", "id_token": string(signed)})
			return
		}
	}
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func random() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

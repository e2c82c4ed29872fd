package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/parleyhq/parley/platform/authn"
)

func TestLoadSigningKeyGeneratesOnlyWhenAllowed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "signing.jwk.json")
	_, _, err := LoadSigningKey(path, false)
	if err == nil || !strings.Contains(err.Error(), "AUTH_GENERATE_SIGNING_KEY") {
		t.Fatalf("missing file without generate: err = %v; want a message naming AUTH_GENERATE_SIGNING_KEY", err)
	}
	if _, statErr := os.Stat(path); !errors.Is(statErr, fs.ErrNotExist) {
		t.Fatal("a key file was written although generation is off")
	}

	key, generated, err := LoadSigningKey(path, true)
	if err != nil || !generated {
		t.Fatalf("generate: %v, generated=%v", err, generated)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v; want 0600", st.Mode().Perm())
	}
	if key.Algorithm() != jwa.EdDSA || key.KeyID() == "" {
		t.Fatalf("generated key alg=%q kid=%q; want EdDSA and a kid", key.Algorithm(), key.KeyID())
	}
	again, generated, err := LoadSigningKey(path, true)
	if err != nil || generated || again.KeyID() != key.KeyID() {
		t.Fatalf("second load: kid %q (generated=%v, err=%v); want the stored key %q", again.KeyID(), generated, err, key.KeyID())
	}
}

func TestLoadSigningKeyRejectsPublicKey(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := jwk.FromRaw(pub)
	data, _ := json.Marshal(k)
	path := filepath.Join(t.TempDir(), "pub.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadSigningKey(path, false); err == nil || !strings.Contains(err.Error(), "private") {
		t.Fatalf("public key as signing key: err = %v; want it refused", err)
	}
}

func newTestTokens(t *testing.T, previous jwk.Set) (*AccessTokens, jwk.Key) {
	t.Helper()
	key, _, err := LoadSigningKey(filepath.Join(t.TempDir(), "k.json"), true)
	if err != nil {
		t.Fatal(err)
	}
	at, err := NewAccessTokens(key, previous, "parley", "parley", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return at, key
}

func TestAccessTokenClaimsAndVerification(t *testing.T) {
	at, key := newTestTokens(t, nil)
	now := time.Now()
	raw, exp, err := at.Issue("user-1", "session-1", false, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Truncate(time.Second).Add(15 * time.Minute); !exp.Equal(want) {
		t.Fatalf("expiry %v; want %v", exp, want)
	}
	msg, err := jws.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	if h.KeyID() != key.KeyID() || h.Algorithm() != jwa.EdDSA {
		t.Fatalf("header kid=%q alg=%q; want kid %q, EdDSA", h.KeyID(), h.Algorithm(), key.KeyID())
	}
	tok, err := jwt.Parse([]byte(raw), jwt.WithKeySet(at.PublicKeys()), jwt.WithValidate(true))
	if err != nil {
		t.Fatal(err)
	}
	sid, _ := tok.PrivateClaims()["sid"].(string)
	if tok.Issuer() != "parley" || len(tok.Audience()) != 1 || tok.Audience()[0] != "parley" || tok.Subject() != "user-1" ||
		sid != "session-1" || tok.JwtID() == "" || tok.IssuedAt().IsZero() || !tok.Expiration().Equal(exp) {
		t.Fatalf("claims iss=%q aud=%v sub=%q sid=%q jti=%q iat=%v exp=%v", tok.Issuer(), tok.Audience(), tok.Subject(), sid, tok.JwtID(), tok.IssuedAt(), tok.Expiration())
	}

	v := authn.NewVerifier(authn.StaticKeys{Set: at.PublicKeys()}, "parley", "parley")
	p, err := v.Verify(context.Background(), raw)
	if err != nil || p.UserID != "user-1" || p.SessionID != "session-1" {
		t.Fatalf("authn.Verify = %+v, %v", p, err)
	}
	if _, err := authn.NewVerifier(authn.StaticKeys{Set: at.PublicKeys()}, "parley", "other").Verify(context.Background(), raw); err == nil {
		t.Fatal("a token for another audience was accepted")
	}
	old, _, _ := at.Issue("user-1", "session-1", false, now.Add(-time.Hour))
	if _, err := v.Verify(context.Background(), old); !errors.Is(err, authn.ErrInvalidToken) {
		t.Fatalf("expired token: %v; want ErrInvalidToken", err)
	}
}

func TestPublicKeysArePublicOnly(t *testing.T) {
	at, _ := newTestTokens(t, nil)
	data, err := json.Marshal(at.PublicKeys())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 1 {
		t.Fatalf("%d keys published; want 1", len(doc.Keys))
	}
	k := doc.Keys[0]
	if _, private := k["d"]; private {
		t.Fatalf("the JWKS contains the private key: %s", data)
	}
	if k["alg"] != "EdDSA" || k["kid"] == "" || k["kty"] != "OKP" {
		t.Fatalf("published key %v; want kty OKP, alg EdDSA and a kid", k)
	}
}

func TestRotationKeepsOldTokensValid(t *testing.T) {
	oldTokens, oldKey := newTestTokens(t, nil)
	oldToken, _, _ := oldTokens.Issue("user-1", "s", false, time.Now())

	// The operator publishes the old key's public half in AUTH_PREVIOUS_PUBLIC_KEYS_FILE.
	pub, _ := oldKey.PublicKey()
	prevSet := jwk.NewSet()
	_ = prevSet.AddKey(pub)
	data, _ := json.Marshal(prevSet)
	prevPath := filepath.Join(t.TempDir(), "previous.json")
	if err := os.WriteFile(prevPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	previous, err := LoadPublicKeys(prevPath)
	if err != nil {
		t.Fatal(err)
	}
	newTokens, newKey := newTestTokens(t, previous)
	if newKey.KeyID() == oldKey.KeyID() {
		t.Fatal("test keys collide")
	}
	if newTokens.PublicKeys().Len() != 2 {
		t.Fatalf("%d published keys; want the new and the previous one", newTokens.PublicKeys().Len())
	}
	v := authn.NewVerifier(authn.StaticKeys{Set: newTokens.PublicKeys()}, "parley", "parley")
	if _, err := v.Verify(context.Background(), oldToken); err != nil {
		t.Fatalf("token of the previous key: %v", err)
	}
	fresh, _, _ := newTokens.Issue("user-1", "s", false, time.Now())
	if _, err := v.Verify(context.Background(), fresh); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	// Without the previous keys the old token must fail: the test above is not vacuous.
	alone, _ := newTestTokens(t, nil)
	if _, err := authn.NewVerifier(authn.StaticKeys{Set: alone.PublicKeys()}, "parley", "parley").Verify(context.Background(), oldToken); err == nil {
		t.Fatal("a token signed by an unpublished key verified")
	}
}

func TestLoadPublicKeysStripsPrivateParts(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := jwk.FromRaw(priv)
	set := jwk.NewSet()
	_ = set.AddKey(k)
	data, _ := json.Marshal(set)
	path := filepath.Join(t.TempDir(), "prev.json")
	_ = os.WriteFile(path, data, 0o600)
	got, err := LoadPublicKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(got)
	if strings.Contains(string(out), `"d"`) {
		t.Fatalf("previous keys keep private material: %s", out)
	}
	if empty, err := LoadPublicKeys(""); err != nil || empty.Len() != 0 {
		t.Fatalf("LoadPublicKeys(\"\") = %v, %v; want an empty set", empty, err)
	}
}

func TestRefreshTokens(t *testing.T) {
	tok, hash := NewRefreshToken()
	if len(tok) != 43 || !wellFormedRefreshToken(tok) {
		t.Fatalf("refresh token %q is not 32 bytes of base64url", tok)
	}
	if string(HashRefreshToken(tok)) != string(hash) || len(hash) != 32 {
		t.Fatal("hash is not the SHA-256 of the token")
	}
	other, _ := NewRefreshToken()
	if other == tok {
		t.Fatal("two refresh tokens are equal")
	}
	for _, bad := range []string{"", "short", tok + "A", strings.Repeat("*", 43)} {
		if wellFormedRefreshToken(bad) {
			t.Errorf("%q accepted as well-formed", bad)
		}
	}
}

// email_verified travels in the token and comes out of platform/authn's verification, so any
// service can tell a confirmed address without asking auth.
func TestAccessTokenCarriesEmailVerified(t *testing.T) {
	at, _ := newTestTokens(t, nil)
	v := authn.NewVerifier(authn.StaticKeys{Set: at.PublicKeys()}, "parley", "parley")
	for _, verified := range []bool{false, true} {
		raw, _, err := at.Issue("user-1", "session-1", verified, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		p, err := v.Verify(context.Background(), raw)
		if err != nil || p.EmailVerified != verified || p.SessionID != "session-1" {
			t.Fatalf("issued with email_verified=%v: principal %+v, %v", verified, p, err)
		}
	}
}

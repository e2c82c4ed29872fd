package authn

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

type keyPair struct {
	private jwk.Key
	public  jwk.Key
}

func newKeyPair(t *testing.T, kid string) keyPair {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	private, err := jwk.FromRaw(priv)
	if err != nil {
		t.Fatal(err)
	}
	_ = private.Set(jwk.KeyIDKey, kid)
	_ = private.Set(jwk.AlgorithmKey, jwa.EdDSA)
	public, err := private.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{private: private, public: public}
}

func (k keyPair) set(t *testing.T) jwk.Set {
	t.Helper()
	s := jwk.NewSet()
	if err := s.AddKey(k.public); err != nil {
		t.Fatal(err)
	}
	return s
}

func (k keyPair) sign(t *testing.T, mutate func(*jwt.Builder) *jwt.Builder) string {
	t.Helper()
	b := jwt.NewBuilder().Issuer("parley").Audience([]string{"parley"}).Subject("user-1").
		IssuedAt(time.Now()).Expiration(time.Now().Add(time.Minute)).Claim("sid", "session-1")
	if mutate != nil {
		b = mutate(b)
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA, k.private))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestVerifyAcceptsAValidToken(t *testing.T) {
	k := newKeyPair(t, "k1")
	v := NewVerifier(StaticKeys{Set: k.set(t)}, "parley", "parley")
	p, err := v.Verify(context.Background(), k.sign(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if p.UserID != "user-1" || p.SessionID != "session-1" || p.Token == "" {
		t.Fatalf("principal = %+v", p)
	}
}

func TestVerifyRejects(t *testing.T) {
	k := newKeyPair(t, "k1")
	stranger := newKeyPair(t, "k1") // same kid, different key
	v := NewVerifier(StaticKeys{Set: k.set(t)}, "parley", "parley")
	noneToken := func() string {
		tok, _ := jwt.NewBuilder().Issuer("parley").Audience([]string{"parley"}).Subject("user-1").
			Expiration(time.Now().Add(time.Minute)).Build()
		raw, err := jwt.Sign(tok, jwt.WithInsecureNoSignature())
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	for name, raw := range map[string]string{
		"expired":        k.sign(t, func(b *jwt.Builder) *jwt.Builder { return b.Expiration(time.Now().Add(-time.Hour)) }),
		"wrong issuer":   k.sign(t, func(b *jwt.Builder) *jwt.Builder { return b.Issuer("evil") }),
		"wrong audience": k.sign(t, func(b *jwt.Builder) *jwt.Builder { return b.Audience([]string{"other"}) }),
		"no subject":     k.sign(t, func(b *jwt.Builder) *jwt.Builder { return b.Subject("") }),
		"foreign key":    stranger.sign(t, nil),
		"alg none":       noneToken(),
		"garbage":        "not.a.token",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := v.Verify(context.Background(), raw); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("want ErrInvalidToken, got %v", err)
			}
		})
	}
}

func TestVerifyRejectsHMACWithThePublicKeyAsSecret(t *testing.T) {
	// The classic algorithm-confusion attack: sign HS256 with the public key bytes.
	k := newKeyPair(t, "k1")
	var raw ed25519.PublicKey
	if err := k.public.Raw(&raw); err != nil {
		t.Fatal(err)
	}
	tok, _ := jwt.NewBuilder().Issuer("parley").Audience([]string{"parley"}).Subject("user-1").
		Expiration(time.Now().Add(time.Minute)).Build()
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, "k1")
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(raw), jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(StaticKeys{Set: k.set(t)}, "parley", "parley")
	if _, err := v.Verify(context.Background(), string(signed)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("want ErrInvalidToken, got %v", err)
	}
}

func TestRemoteJWKSRefreshesForANewKeyID(t *testing.T) {
	oldKey, newKey := newKeyPair(t, "old"), newKeyPair(t, "new")
	var current atomic.Pointer[jwk.Set]
	s := oldKey.set(t)
	current.Store(&s)
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = jsonEncode(w, *current.Load())
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keys, err := NewRemoteJWKS(ctx, srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(keys, "parley", "parley")
	if _, err := v.Verify(ctx, oldKey.sign(t, nil)); err != nil {
		t.Fatalf("old key: %v", err)
	}
	// The auth service rotates its key: the first token signed with it makes the verifier refetch.
	s2 := newKey.set(t)
	current.Store(&s2)
	if _, err := v.Verify(ctx, newKey.sign(t, nil)); err != nil {
		t.Fatalf("new key after rotation: %v", err)
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d JWKS fetches, want 2 (initial + one refresh)", n)
	}
}

func TestBearerToken(t *testing.T) {
	for in, want := range map[string]string{
		"Bearer abc":   "abc",
		"bearer  abc ": "abc",
		"Basic abc":    "",
		"":             "",
		"Bearer":       "",
	} {
		if got := BearerToken(in); got != want {
			t.Errorf("BearerToken(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRequireUser(t *testing.T) {
	ctx := WithPrincipal(context.Background(), Principal{UserID: "u1", SessionID: "s1"})
	if id, err := RequireUser(ctx); err != nil || id != "u1" {
		t.Fatalf("RequireUser(signed in) = %q, %v; want u1", id, err)
	}
	for name, ctx := range map[string]context.Context{
		"no principal":  context.Background(),
		"empty user id": WithPrincipal(context.Background(), Principal{SessionID: "s1"}),
	} {
		id, err := RequireUser(ctx)
		var ce *connect.Error
		if id != "" || !errors.As(err, &ce) || ce.Code() != connect.CodeUnauthenticated ||
			ce.Message() != "missing access token: send Authorization: Bearer <token>" {
			t.Errorf("%s: RequireUser = %q, %v; want Unauthenticated asking for a bearer token", name, id, err)
		}
	}
	// Each answer is its own error: metadata a handler adds to one does not reach the next.
	var first, second *connect.Error
	_, err1 := RequireUser(context.Background())
	_, err2 := RequireUser(context.Background())
	if !errors.As(err1, &first) || !errors.As(err2, &second) {
		t.Fatalf("RequireUser = %v, %v; want *connect.Error", err1, err2)
	}
	first.Meta().Set("X-Test", "1")
	if second.Meta().Get("X-Test") != "" {
		t.Error("RequireUser returned a shared *connect.Error")
	}
}

func TestVerifyRejectsATokenWithoutExpiry(t *testing.T) {
	k := newKeyPair(t, "k1")
	tok, _ := jwt.NewBuilder().Issuer("parley").Audience([]string{"parley"}).Subject("user-1").Build()
	raw, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA, k.private))
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(StaticKeys{Set: k.set(t)}, "parley", "parley")
	if _, err := v.Verify(context.Background(), string(raw)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("want ErrInvalidToken for a token without exp, got %v", err)
	}
}

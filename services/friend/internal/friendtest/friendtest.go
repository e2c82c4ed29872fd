// Package friendtest holds what the friend service's tests share: a fresh database with the
// service's migrations, users seeded the way the event consumers record them, and an access-token
// issuer standing in for the auth service (which lives in another module), whose public keys are
// given to the service's verifier.
package friendtest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/services/friend/internal/frienddb"
)

// Issuer and Audience are the token claims the tests' verifiers expect (the services' defaults).
const (
	Issuer   = "parley"
	Audience = "parley"
)

// NewDB returns a fresh database with the events and friend migrations applied.
func NewDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return pgtest.New(t,
		pgtest.Migration{Component: "events", Files: events.Migrations},
		pgtest.Migration{Component: frienddb.Component, Files: frienddb.Migrations})
}

// AddUser records a user with nickname as UserRegistered would, and returns the new user's id.
func AddUser(t testing.TB, pool *pgxpool.Pool, nickname string) string {
	t.Helper()
	id := uuid.NewString()
	if _, err := pool.Exec(context.Background(), `INSERT INTO users (user_id, nickname) VALUES ($1, $2)`, id, nickname); err != nil {
		t.Fatalf("add user %s: %v", nickname, err)
	}
	return id
}

// Tokens signs access tokens the way the auth service does (EdDSA, kid, iss, aud, sub, sid).
type Tokens struct {
	key    jwk.Key
	public jwk.Set
}

// NewTokens generates a signing key.
func NewTokens(t testing.TB) *Tokens {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.FromRaw(priv)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{jwk.KeyIDKey: "test-key", jwk.AlgorithmKey: jwa.EdDSA, jwk.KeyUsageKey: "sig"} {
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
	return &Tokens{key: key, public: set}
}

// PublicKeys is the JWKS to verify tokens with.
func (k *Tokens) PublicKeys() jwk.Set { return k.public }

// JWKSHandler serves PublicKeys as the auth service's /.well-known/jwks.json does.
func (k *Tokens) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(k.public)
	})
}

// Token returns a valid access token for userID.
func (k *Tokens) Token(t testing.TB, userID string) string {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	tok, err := jwt.NewBuilder().Issuer(Issuer).Audience([]string{Audience}).Subject(userID).
		IssuedAt(now).NotBefore(now).Expiration(now.Add(15*time.Minute)).Claim("sid", uuid.NewString()).Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA, k.key))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

// Produce writes msg to topic as platform/events' relay does: protobuf value, CloudEvents
// binary-mode headers with eventID as ce_id.
func Produce(t testing.TB, client *kgo.Client, topic, key, eventID string, msg proto.Message) {
	t.Helper()
	payload, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	rec := &kgo.Record{Topic: topic, Key: []byte(key), Value: payload, Headers: []kgo.RecordHeader{
		{Key: events.HeaderID, Value: []byte(eventID)},
		{Key: events.HeaderType, Value: []byte(msg.ProtoReflect().Descriptor().FullName())},
		{Key: events.HeaderSource, Value: []byte("test")},
		{Key: events.HeaderTime, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
		{Key: events.HeaderSpecVersion, Value: []byte(events.SpecVersion)},
		{Key: events.HeaderContentType, Value: []byte(events.ContentType)},
	}}
	if err := client.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

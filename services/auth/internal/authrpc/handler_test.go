package authrpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1/authv1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/rpctest"
	"github.com/parleyhq/parley/platform/server"

	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/services/auth/internal/auth"
	"github.com/parleyhq/parley/services/auth/internal/authdb"
	"github.com/parleyhq/parley/services/auth/internal/authrpc"
	"github.com/parleyhq/parley/services/auth/internal/authtest"
)

// testThrottle is the default policy with an hour's back-off, so a slow test run cannot outlast
// it between two attempts.
var testThrottle = func() auth.ThrottlePolicy {
	p := auth.DefaultThrottlePolicy
	p.BaseDelay, p.MaxDelay = time.Hour, time.Hour
	return p
}()

type testServer struct {
	pool   *pgxpool.Pool
	url    string
	client authv1connect.AuthServiceClient
	http   *http.Client
}

// newServer runs the real handler stack (logging, authentication, error mapping, JWKS) on a
// fresh database behind an HTTP/1.1 test server, with the generated client.
func newServer(t *testing.T, providers ...auth.OAuthProvider) *testServer {
	t.Helper()
	pool := eventstest.NewDB(t, "auth", authdb.Migrations)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tokens := authtest.Tokens(t)
	hasher := authtest.Hasher(t)
	svc, err := auth.NewService(auth.Deps{
		Store: authdb.New(pool, events.NewOutbox("auth")), Hasher: hasher, Tokens: tokens,
		RefreshTokenTTL: 30 * 24 * time.Hour, Logger: logger, OAuth: &auth.OAuth{Providers: providers}, Throttle: testThrottle,
		TOTPKey:  newTOTPKey(t),
		Passkeys: testPasskeys,
	})
	if err != nil {
		t.Fatal(err)
	}
	verifier := authn.NewVerifier(authn.StaticKeys{Set: tokens.PublicKeys()}, "parley", "parley")
	jwks, err := authrpc.JWKSHandler(tokens.PublicKeys(), 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(logger, "127.0.0.1:0")
	srv.Mount(authrpc.NewHandler(svc, verifier, logger, nil, nil))
	srv.Handle("GET "+authrpc.JWKSPath, jwks)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &testServer{pool: pool, url: hs.URL, client: authv1connect.NewAuthServiceClient(hs.Client(), hs.URL), http: hs.Client()}
}

func TestRegisterLoginRefreshGetMe(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()

	reg, err := s.client.Register(ctx, connect.NewRequest(&authv1.RegisterRequest{
		Email: "Zoe@Example.com", Password: "correct horse battery", Nickname: "zoe"}))
	if err != nil {
		t.Fatal(err)
	}
	userID := reg.Msg.GetUserId()
	tok := reg.Msg.GetTokens()
	if userID == "" || tok.GetAccessToken() == "" || tok.GetRefreshToken() == "" || tok.GetTokenType() != "Bearer" ||
		!tok.GetAccessTokenExpiresAt().AsTime().After(time.Now()) || !tok.GetRefreshTokenExpiresAt().AsTime().After(time.Now().Add(29*24*time.Hour)) {
		t.Fatalf("Register response %v", reg.Msg)
	}

	_, err = s.client.Register(ctx, connect.NewRequest(&authv1.RegisterRequest{Email: "zoe@example.com", Password: "another one", Nickname: "zoe2"}))
	rpctest.WantCode(t, err, connect.CodeAlreadyExists, "email: already registered")

	// GetMe needs a token...
	_, err = s.client.GetMe(ctx, connect.NewRequest(&authv1.GetMeRequest{}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "access token")
	_, err = s.client.GetMe(ctx, rpctest.Request("not.a.jwt", &authv1.GetMeRequest{}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "")
	// ...and answers with the caller's account when given one.
	me, err := s.client.GetMe(ctx, rpctest.Request(tok.GetAccessToken(), &authv1.GetMeRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if me.Msg.GetAccount().GetUserId() != userID || me.Msg.GetAccount().GetEmail() != "zoe@example.com" || me.Msg.GetAccount().GetCreatedAt() == nil {
		t.Fatalf("GetMe = %v", me.Msg)
	}

	login, err := s.client.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: " zoe@EXAMPLE.com ", Password: "correct horse battery"}))
	if err != nil || login.Msg.GetUserId() != userID {
		t.Fatalf("Login = %v, %v", login, err)
	}
	_, wrongErr := s.client.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: "zoe@example.com", Password: "wrong horse battery"}))
	_, unknownErr := s.client.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: "nobody@example.com", Password: "correct horse battery"}))
	rpctest.WantCode(t, wrongErr, connect.CodeUnauthenticated, "email or password is incorrect")
	rpctest.WantCode(t, unknownErr, connect.CodeUnauthenticated, "email or password is incorrect")
	if wrongErr.Error() != unknownErr.Error() {
		t.Fatalf("wrong password %q and unknown email %q differ", wrongErr, unknownErr)
	}

	ref, err := s.client.RefreshToken(ctx, connect.NewRequest(&authv1.RefreshTokenRequest{RefreshToken: login.Msg.GetTokens().GetRefreshToken()}))
	if err != nil || ref.Msg.GetUserId() != userID {
		t.Fatalf("RefreshToken = %v, %v", ref, err)
	}
	if _, err := s.client.GetMe(ctx, rpctest.Request(ref.Msg.GetTokens().GetAccessToken(), &authv1.GetMeRequest{})); err != nil {
		t.Fatalf("GetMe with the refreshed access token: %v", err)
	}
	_, err = s.client.RefreshToken(ctx, connect.NewRequest(&authv1.RefreshTokenRequest{RefreshToken: login.Msg.GetTokens().GetRefreshToken()}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "already used")
	_, err = s.client.RefreshToken(ctx, connect.NewRequest(&authv1.RefreshTokenRequest{RefreshToken: ref.Msg.GetTokens().GetRefreshToken()}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "session has ended")

	// Logout is public and idempotent.
	for range 2 {
		if _, err := s.client.Logout(ctx, connect.NewRequest(&authv1.LogoutRequest{RefreshToken: tok.GetRefreshToken()})); err != nil {
			t.Fatalf("Logout: %v", err)
		}
	}
	_, err = s.client.RefreshToken(ctx, connect.NewRequest(&authv1.RefreshTokenRequest{RefreshToken: tok.GetRefreshToken()}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "session has ended")
}

func TestInvalidArgumentNamesTheField(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	cases := []struct {
		req  *authv1.RegisterRequest
		want string
	}{
		{&authv1.RegisterRequest{Email: "not-an-email", Password: "plum tree 42", Nickname: "nick"}, "email: must be a plain address like name@example.com"},
		{&authv1.RegisterRequest{Email: "a@example.com", Password: "short", Nickname: "nick"}, "password: must be at least 8 characters"},
		{&authv1.RegisterRequest{Email: "a@example.com", Password: "plum tree 42", Nickname: "_x"}, "nickname: must be 3 to 32 characters"},
		{&authv1.RegisterRequest{Email: "a@example.com", Password: "plum tree 42", Nickname: "-nick"}, "nickname: must start with a letter or digit"},
		{&authv1.RegisterRequest{}, "email: required; password: required; nickname: required"},
		// Weak passwords: the most common breached ones, and ones built from the person's own names.
		{&authv1.RegisterRequest{Email: "a@example.com", Password: "Password1", Nickname: "nick"}, "password: is one of the most common passwords in public breach lists"},
		{&authv1.RegisterRequest{Email: "maryjane@example.com", Password: "maryjane2024", Nickname: "mj1"}, "password: must not contain your email address's name"},
		{&authv1.RegisterRequest{Email: "m@example.com", Password: "i am MaryJane!", Nickname: "maryjane"}, "password: must not contain your nickname"},
	}
	for _, c := range cases {
		_, err := s.client.Register(ctx, connect.NewRequest(c.req))
		rpctest.WantCode(t, err, connect.CodeInvalidArgument, c.want)
	}
	_, err := s.client.RefreshToken(ctx, connect.NewRequest(&authv1.RefreshTokenRequest{}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "refresh_token: required")
	_, err = s.client.Logout(ctx, connect.NewRequest(&authv1.LogoutRequest{}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "refresh_token: required")
}

func TestJWKSVerifiesIssuedTokens(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	reg, err := s.client.Register(ctx, connect.NewRequest(&authv1.RegisterRequest{Email: "jw@example.com", Password: "plum tree 42", Nickname: "jwks"}))
	if err != nil {
		t.Fatal(err)
	}

	res, err := s.http.Get(s.url + authrpc.JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Cache-Control"), "max-age=300") {
		t.Fatalf("JWKS status %d, Cache-Control %q", res.StatusCode, res.Header.Get("Cache-Control"))
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || len(doc.Keys) != 1 {
		t.Fatalf("JWKS %s: %v", body, err)
	}
	if _, private := doc.Keys[0]["d"]; private || doc.Keys[0]["alg"] != "EdDSA" || doc.Keys[0]["kid"] == "" {
		t.Fatalf("published key %v; want a public EdDSA key with a kid", doc.Keys[0])
	}
	// A conditional request with the ETag is answered without a body.
	req, _ := http.NewRequest(http.MethodGet, s.url+authrpc.JWKSPath, nil)
	req.Header.Set("If-None-Match", res.Header.Get("ETag"))
	res2, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != http.StatusNotModified {
		t.Fatalf("conditional JWKS request: status %d; want 304", res2.StatusCode)
	}

	// What another service does: fetch the JWKS by URL and verify the token with it.
	remote, err := authn.NewRemoteJWKS(ctx, s.url+authrpc.JWKSPath, s.http)
	if err != nil {
		t.Fatal(err)
	}
	p, err := authn.NewVerifier(remote, "parley", "parley").Verify(ctx, reg.Msg.GetTokens().GetAccessToken())
	if err != nil || p.UserID != reg.Msg.GetUserId() || p.SessionID == "" {
		t.Fatalf("verify with the served JWKS: %+v, %v", p, err)
	}
	// A token signed by a key the JWKS does not hold is refused.
	other, _, _ := auth.LoadSigningKey(filepath.Join(t.TempDir(), "other.json"), true)
	otherTokens, _ := auth.NewAccessTokens(other, nil, "parley", "parley", time.Minute)
	forged, _, _ := otherTokens.Issue(reg.Msg.GetUserId(), "s", false, time.Now())
	if _, err := authn.NewVerifier(remote, "parley", "parley").Verify(ctx, forged); !errors.Is(err, authn.ErrInvalidToken) {
		t.Fatalf("token of an unknown key: %v; want ErrInvalidToken", err)
	}
	_, err = s.client.GetMe(ctx, rpctest.Request(forged, &authv1.GetMeRequest{}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "")
}

func TestOAuthWithoutProviders(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	list, err := s.client.ListOAuthProviders(ctx, connect.NewRequest(&authv1.ListOAuthProvidersRequest{}))
	if err != nil || len(list.Msg.GetProviders()) != 0 {
		t.Fatalf("ListOAuthProviders = %v, %v; want none", list, err)
	}
	_, err = s.client.BeginOAuth(ctx, connect.NewRequest(&authv1.BeginOAuthRequest{ProviderId: "x", RedirectUri: "http://localhost/cb"}))
	rpctest.WantCode(t, err, connect.CodeNotFound, `unknown provider "x"; configured providers: none`)
	_, err = s.client.CompleteOAuth(ctx, connect.NewRequest(&authv1.CompleteOAuthRequest{State: "s", Code: "c"}))
	rpctest.WantCode(t, err, connect.CodeNotFound, "configured providers: none")
}

// TestLoginThrottleOverConnect: a client that keeps failing gets ResourceExhausted with the wait in
// the message and a Retry-After header; the client is the X-Forwarded-For hop the gateway appends,
// an IPv6 client counts by its /64, and other clients can still sign in.
func TestLoginThrottleOverConnect(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	if _, err := s.client.Register(ctx, connect.NewRequest(&authv1.RegisterRequest{Email: "uma@example.com", Password: "plum tree 42", Nickname: "uma"})); err != nil {
		t.Fatal(err)
	}
	login := func(xff, password string) error {
		req := connect.NewRequest(&authv1.LoginRequest{Email: "uma@example.com", Password: password})
		req.Header().Set("X-Forwarded-For", xff)
		_, err := s.client.Login(ctx, req)
		return err
	}
	for i := 0; i < testThrottle.FreeFailures; i++ {
		rpctest.WantCode(t, login("2001:db8:1:2::1", "guess"), connect.CodeUnauthenticated, "email or password is incorrect")
	}
	err := login("2001:db8:1:2::ffff", "plum tree 42") // same /64, right password
	rpctest.WantCode(t, err, connect.CodeResourceExhausted, "too many failed sign-in attempts for this email; try again in ")
	var ce *connect.Error
	errors.As(err, &ce)
	if secs, _ := strconv.Atoi(ce.Meta().Get("Retry-After")); secs < 3500 || secs > 3600 || !strings.HasSuffix(ce.Message(), fmt.Sprintf("in %d seconds", secs)) {
		t.Fatalf("Retry-After %q, message %q; want the hour's back-off in whole seconds in both", ce.Meta().Get("Retry-After"), ce.Message())
	}
	if err := login("2001:db8:1:3::1", "plum tree 42"); err != nil { // another /64
		t.Fatalf("Login from another network = %v; want success", err)
	}
	if err := login("198.51.100.7", "plum tree 42"); err != nil {
		t.Fatalf("Login from another client = %v; want success", err)
	}
}

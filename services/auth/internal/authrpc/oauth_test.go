package authrpc_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/platform/rpctest"

	"github.com/parleyhq/parley/services/auth/internal/authoidc"
	"github.com/parleyhq/parley/services/auth/internal/authoidc/oidctest"
)

const redirectURI = "http://localhost:8080/oauth/callback"

func newOAuthServer(t *testing.T) (*testServer, *oidctest.Provider) {
	t.Helper()
	idp := oidctest.New(t, "parley-client", "s3cret/with+chars")
	p, err := authoidc.New(context.Background(), authoidc.Config{
		ID: "dev", DisplayName: "Dev provider", Issuer: idp.URL,
		ClientID: idp.ClientID, ClientSecret: idp.ClientSecret, RedirectURIs: []string{redirectURI},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return newServer(t, p), idp
}

// signIn runs the whole flow as a browser would: BeginOAuth, consent at the provider, CompleteOAuth.
func signIn(t *testing.T, s *testServer, idp *oidctest.Provider, subject string, claims map[string]any, nickname string) (*authv1.CompleteOAuthResponse, error) {
	t.Helper()
	ctx := context.Background()
	begin, err := s.client.BeginOAuth(ctx, connect.NewRequest(&authv1.BeginOAuthRequest{ProviderId: "dev", RedirectUri: redirectURI}))
	if err != nil {
		t.Fatal(err)
	}
	code := idp.Authorize(t, begin.Msg.GetAuthorizationUrl(), subject, claims)
	res, err := s.client.CompleteOAuth(ctx, connect.NewRequest(&authv1.CompleteOAuthRequest{State: begin.Msg.GetState(), Code: code, Nickname: nickname}))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

func TestOAuthCreatesThenSignsIn(t *testing.T) {
	s, idp := newOAuthServer(t)
	ctx := context.Background()

	list, err := s.client.ListOAuthProviders(ctx, connect.NewRequest(&authv1.ListOAuthProvidersRequest{}))
	if err != nil || len(list.Msg.GetProviders()) != 1 || list.Msg.GetProviders()[0].GetId() != "dev" || list.Msg.GetProviders()[0].GetDisplayName() != "Dev provider" {
		t.Fatalf("ListOAuthProviders = %v, %v", list, err)
	}

	claims := map[string]any{"email": "Olga@Example.com", "email_verified": true, "preferred_username": "olga k"}
	first, err := signIn(t, s, idp, "subject-1", claims, "")
	if err != nil {
		t.Fatal(err)
	}
	if !first.GetCreated() || first.GetUserId() == "" || first.GetTokens().GetAccessToken() == "" || first.GetTokens().GetRefreshToken() == "" {
		t.Fatalf("first CompleteOAuth = %v; want a new account with tokens", first)
	}
	me, err := s.client.GetMe(ctx, rpctest.Request(first.GetTokens().GetAccessToken(), &authv1.GetMeRequest{}))
	if err != nil || me.Msg.GetAccount().GetEmail() != "olga@example.com" {
		t.Fatalf("GetMe = %v, %v; want the provider's verified email", me, err)
	}
	var payload []byte
	if err := s.pool.QueryRow(ctx, `SELECT payload FROM outbox WHERE ce_type = 'parley.events.v1.UserRegistered'`).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	var ev eventsv1.UserRegistered
	_ = proto.Unmarshal(payload, &ev)
	if ev.GetMethod() != "oauth:dev" || ev.GetNickname() != "olga_k" || ev.GetUserId() != first.GetUserId() {
		t.Fatalf("UserRegistered %v; want method oauth:dev and the derived nickname olga_k", &ev)
	}

	second, err := signIn(t, s, idp, "subject-1", claims, "")
	if err != nil {
		t.Fatal(err)
	}
	if second.GetCreated() || second.GetUserId() != first.GetUserId() {
		t.Fatalf("second CompleteOAuth = %v; want the same account, not created", second)
	}
	if _, err := s.client.RefreshToken(ctx, connect.NewRequest(&authv1.RefreshTokenRequest{RefreshToken: second.GetTokens().GetRefreshToken()})); err != nil {
		t.Fatalf("refresh an OAuth session: %v", err)
	}

	// An unverified email is not stored: the account has none.
	third, err := signIn(t, s, idp, "subject-5", map[string]any{"email": "mallory@example.com", "email_verified": false}, "mallory")
	if err != nil || !third.GetCreated() {
		t.Fatalf("CompleteOAuth with an unverified email = %v, %v", third, err)
	}
	me, err = s.client.GetMe(ctx, rpctest.Request(third.GetTokens().GetAccessToken(), &authv1.GetMeRequest{}))
	if err != nil || me.Msg.GetAccount().GetEmail() != "" {
		t.Fatalf("GetMe = %v, %v; want no email", me, err)
	}
}

func TestOAuthRejections(t *testing.T) {
	s, idp := newOAuthServer(t)
	ctx := context.Background()

	_, err := s.client.BeginOAuth(ctx, connect.NewRequest(&authv1.BeginOAuthRequest{ProviderId: "google", RedirectUri: redirectURI}))
	rpctest.WantCode(t, err, connect.CodeNotFound, `unknown provider "google"; configured providers: dev`)
	_, err = s.client.BeginOAuth(ctx, connect.NewRequest(&authv1.BeginOAuthRequest{ProviderId: "dev", RedirectUri: "https://evil.example/cb"}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "redirect_uri:")

	// A state works once.
	begin, err := s.client.BeginOAuth(ctx, connect.NewRequest(&authv1.BeginOAuthRequest{ProviderId: "dev", RedirectUri: redirectURI}))
	if err != nil {
		t.Fatal(err)
	}
	code := idp.Authorize(t, begin.Msg.GetAuthorizationUrl(), "subject-2", nil)
	if _, err := s.client.CompleteOAuth(ctx, connect.NewRequest(&authv1.CompleteOAuthRequest{State: begin.Msg.GetState(), Code: code, Nickname: "second"})); err != nil {
		t.Fatal(err)
	}
	_, err = s.client.CompleteOAuth(ctx, connect.NewRequest(&authv1.CompleteOAuthRequest{State: begin.Msg.GetState(), Code: code}))
	rpctest.WantCode(t, err, connect.CodeFailedPrecondition, "state: unknown, used or expired")

	// A code the provider does not know (or already redeemed) is refused.
	begin, _ = s.client.BeginOAuth(ctx, connect.NewRequest(&authv1.BeginOAuthRequest{ProviderId: "dev", RedirectUri: redirectURI}))
	_, err = s.client.CompleteOAuth(ctx, connect.NewRequest(&authv1.CompleteOAuthRequest{State: begin.Msg.GetState(), Code: "made-up"}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "code: the provider rejected it")

	// An ID token whose nonce is not the flow's is refused.
	idp.OverrideNonce("someone-elses-nonce")
	_, err = signIn(t, s, idp, "subject-3", nil, "")
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "nonce")
	idp.OverrideNonce("")

	// A verified email that belongs to a password account is not taken over.
	if _, err := s.client.Register(ctx, connect.NewRequest(&authv1.RegisterRequest{Email: "pat@example.com", Password: "plum tree 42", Nickname: "pat"})); err != nil {
		t.Fatal(err)
	}
	_, err = signIn(t, s, idp, "subject-4", map[string]any{"email": "pat@example.com", "email_verified": true}, "")
	rpctest.WantCode(t, err, connect.CodeFailedPrecondition, "already registered")

	// Input errors name the field.
	_, err = s.client.CompleteOAuth(ctx, connect.NewRequest(&authv1.CompleteOAuthRequest{Nickname: "x"}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "state: required; code: required; nickname: must be 3 to 32 characters")
}

// TestOAuthProviderDownIsUnavailableWithoutDetails: when the provider cannot be reached the caller
// gets Unavailable with a fixed message; the dial error (addresses inside the network) stays in
// the logs.
func TestOAuthProviderDownIsUnavailableWithoutDetails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more
	p, err := authoidc.New(context.Background(), authoidc.Config{
		ID: "dev", DisplayName: "Dev provider", Issuer: dead,
		ClientID: "c", ClientSecret: "s", RedirectURIs: []string{redirectURI},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, p)
	_, err = s.client.BeginOAuth(context.Background(), connect.NewRequest(&authv1.BeginOAuthRequest{ProviderId: "dev", RedirectUri: redirectURI}))
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("want Unavailable, got %v", err)
	}
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Message() != `provider "dev" is not reachable right now; try again shortly` {
		t.Fatalf("message %q should be the fixed text, without %s", ce.Message(), ln.Addr())
	}
}

package authrpc_test

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/platform/rpctest"
	"github.com/parleyhq/parley/platform/webauthntest"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

const testOrigin = "https://parley.test"

var testPasskeys = auth.PasskeyConfig{RPID: "parley.test", Origins: []string{testOrigin}}

// TestPasskeysOverConnect registers a passkey of a software authenticator with a bearer token,
// signs in with it without a token or an email (the session records the device, as Login's),
// lists and removes it, and is then refused; the wrong origin is refused with the documented codes.
func TestPasskeysOverConnect(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	reg, err := s.client.Register(ctx, connect.NewRequest(&authv1.RegisterRequest{Email: "ivy@example.com", Password: "plum tree 42", Nickname: "ivy"}))
	if err != nil {
		t.Fatal(err)
	}
	token := reg.Msg.GetTokens().GetAccessToken()
	authr := webauthntest.New()

	// Registration needs a token; the options are the JSON navigator.credentials.create takes.
	_, err = s.client.BeginPasskeyRegistration(ctx, rpctest.Request("", &authv1.BeginPasskeyRegistrationRequest{}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "")
	body := postJSON(t, s, "/parley.auth.v1.AuthService/BeginPasskeyRegistration", token, `{}`)
	for _, want := range []string{`"ceremonyId":"`, `"optionsJson":"`, `\"residentKey\":\"required\"`} {
		if !strings.Contains(body, want) {
			t.Errorf("BeginPasskeyRegistration JSON lacks %s: %s", want, body)
		}
	}
	begin, err := s.client.BeginPasskeyRegistration(ctx, rpctest.Request(token, &authv1.BeginPasskeyRegistrationRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	cred, err := authr.Create(begin.Msg.GetOptionsJson(), testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.client.FinishPasskeyRegistration(ctx, rpctest.Request(token, &authv1.FinishPasskeyRegistrationRequest{CeremonyId: begin.Msg.GetCeremonyId(), CredentialJson: cred}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "name: required")
	begin, _ = s.client.BeginPasskeyRegistration(ctx, rpctest.Request(token, &authv1.BeginPasskeyRegistrationRequest{}))
	cred, _ = authr.Create(begin.Msg.GetOptionsJson(), testOrigin)
	fin, err := s.client.FinishPasskeyRegistration(ctx, rpctest.Request(token, &authv1.FinishPasskeyRegistrationRequest{
		CeremonyId: begin.Msg.GetCeremonyId(), CredentialJson: cred, Name: "Laptop"}))
	if err != nil {
		t.Fatal(err)
	}
	pk := fin.Msg.GetPasskey()
	if pk.GetName() != "Laptop" || pk.GetPasskeyId() == "" || len(pk.GetAaguid()) != 36 || pk.GetCreatedAt() == nil || pk.GetLastUsedAt() != nil ||
		strings.Join(pk.GetTransports(), ",") != "internal,hybrid" {
		t.Fatalf("passkey %v", pk)
	}

	// Usernameless sign-in, public: no token.
	signIn := func(origin string) (*connect.Response[authv1.FinishPasskeyLoginResponse], error) {
		t.Helper()
		b, err := s.client.BeginPasskeyLogin(ctx, connect.NewRequest(&authv1.BeginPasskeyLoginRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		assertion, err := authr.Get(b.Msg.GetOptionsJson(), origin)
		if err != nil {
			t.Fatal(err)
		}
		req := connect.NewRequest(&authv1.FinishPasskeyLoginRequest{CeremonyId: b.Msg.GetCeremonyId(), CredentialJson: assertion})
		req.Header().Set("User-Agent", "Parley-Test/1.0 (passkey)")
		req.Header().Set("X-Forwarded-For", "198.51.100.23")
		return s.client.FinishPasskeyLogin(ctx, req)
	}
	_, err = signIn("https://evil.example")
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "the passkey was not accepted: Error validating origin")
	login, err := signIn(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if login.Msg.GetUserId() != reg.Msg.GetUserId() || login.Msg.GetTokens().GetTokenType() != "Bearer" || login.Msg.GetTokens().GetRefreshToken() == "" {
		t.Fatalf("sign-in %v", login.Msg)
	}
	passkeyToken := login.Msg.GetTokens().GetAccessToken()
	sessions, err := s.client.ListSessions(ctx, rpctest.Request(passkeyToken, &authv1.ListSessionsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	var current *authv1.Session
	for _, ses := range sessions.Msg.GetSessions() {
		if ses.GetCurrent() {
			current = ses
		}
	}
	if current == nil || current.GetMethod() != "passkey" || current.GetUserAgent() != "Parley-Test/1.0 (passkey)" || current.GetClientNetwork() != "198.51.100.0/24" {
		t.Fatalf("passkey session %v", current)
	}
	_, err = s.client.FinishPasskeyLogin(ctx, connect.NewRequest(&authv1.FinishPasskeyLoginRequest{}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "ceremony_id: required")

	list, err := s.client.ListPasskeys(ctx, rpctest.Request(passkeyToken, &authv1.ListPasskeysRequest{}))
	if err != nil || len(list.Msg.GetPasskeys()) != 1 || list.Msg.GetPasskeys()[0].GetLastUsedAt() == nil {
		t.Fatalf("list %v, %v", list, err)
	}
	_, err = s.client.DeletePasskey(ctx, rpctest.Request(token, &authv1.DeletePasskeyRequest{PasskeyId: "x"}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "passkey_id")
	if _, err := s.client.DeletePasskey(ctx, rpctest.Request(token, &authv1.DeletePasskeyRequest{PasskeyId: pk.GetPasskeyId()})); err != nil {
		t.Fatal(err)
	}
	_, err = s.client.DeletePasskey(ctx, rpctest.Request(token, &authv1.DeletePasskeyRequest{PasskeyId: pk.GetPasskeyId()}))
	rpctest.WantCode(t, err, connect.CodeNotFound, "no such passkey")
	_, err = signIn(testOrigin)
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "this passkey is not registered here")
}

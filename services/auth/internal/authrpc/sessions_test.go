package authrpc_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/platform/rpctest"
)

// TestSessionsOverConnect drives ListSessions, RevokeSession, RevokeOtherSessions and
// ChangePassword through the real handler stack: the device each session shows comes from the
// request's User-Agent and X-Forwarded-For, current comes from the access token, and every
// procedure needs one.
func TestSessionsOverConnect(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	reg := connect.NewRequest(&authv1.RegisterRequest{Email: "vic@example.com", Password: "plum tree 42", Nickname: "vic"})
	reg.Header().Set("User-Agent", "Parley-Test/1.0 (laptop)")
	reg.Header().Set("X-Forwarded-For", "203.0.113.77")
	laptop, err := s.client.Register(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	login := connect.NewRequest(&authv1.LoginRequest{Email: "vic@example.com", Password: "plum tree 42"})
	login.Header().Set("User-Agent", "Parley-Test/1.0 (phone)")
	login.Header().Set("X-Forwarded-For", "2001:db8:7:8::1")
	phone, err := s.client.Login(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	laptopToken := laptop.Msg.GetTokens().GetAccessToken()

	list, err := s.client.ListSessions(ctx, rpctest.Request(laptopToken, &authv1.ListSessionsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	byAgent := map[string]*authv1.Session{}
	for _, ses := range list.Msg.GetSessions() {
		byAgent[ses.GetUserAgent()] = ses
	}
	l, p := byAgent["Parley-Test/1.0 (laptop)"], byAgent["Parley-Test/1.0 (phone)"]
	if len(list.Msg.GetSessions()) != 2 || l == nil || p == nil {
		t.Fatalf("sessions %v", list.Msg.GetSessions())
	}
	if !l.GetCurrent() || p.GetCurrent() || l.GetClientNetwork() != "203.0.113.0/24" || p.GetClientNetwork() != "2001:db8:7::/48" {
		t.Fatalf("laptop %v, phone %v", l, p)
	}

	// Plain JSON, as a browser or curl sends it: the field names are the documented ones.
	body := postJSON(t, s, "/parley.auth.v1.AuthService/ListSessions", laptopToken, `{}`)
	for _, want := range []string{`"sessionId":"` + l.GetSessionId() + `"`, `"clientNetwork":"203.0.113.0/24"`, `"current":true`, `"lastUsedAt":`, `"method":"password"`} {
		if !strings.Contains(body, want) {
			t.Errorf("ListSessions JSON lacks %s: %s", want, body)
		}
	}

	for _, call := range []func() error{
		func() error {
			_, err := s.client.ListSessions(ctx, rpctest.Request("", &authv1.ListSessionsRequest{}))
			return err
		},
		func() error {
			_, err := s.client.RevokeSession(ctx, rpctest.Request("", &authv1.RevokeSessionRequest{SessionId: p.GetSessionId()}))
			return err
		},
		func() error {
			_, err := s.client.RevokeOtherSessions(ctx, rpctest.Request("", &authv1.RevokeOtherSessionsRequest{}))
			return err
		},
		func() error {
			_, err := s.client.ChangePassword(ctx, rpctest.Request("", &authv1.ChangePasswordRequest{CurrentPassword: "plum tree 42", NewPassword: "apple orchard 7"}))
			return err
		},
	} {
		if connect.CodeOf(call()) != connect.CodeUnauthenticated {
			t.Errorf("a session procedure without an access token: %v", call())
		}
	}

	_, err = s.client.RevokeSession(ctx, rpctest.Request(laptopToken, &authv1.RevokeSessionRequest{SessionId: "nope"}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "session_id: must be a UUID")
	_, err = s.client.RevokeSession(ctx, rpctest.Request(laptopToken, &authv1.RevokeSessionRequest{SessionId: "0190b6b1-7f3a-7c2e-9d4b-5a6c7d8e9f01"}))
	rpctest.WantCode(t, err, connect.CodeNotFound, "session_id: you have no such session")

	_, err = s.client.ChangePassword(ctx, rpctest.Request(laptopToken, &authv1.ChangePasswordRequest{CurrentPassword: "plum tree 41", NewPassword: "apple orchard 7"}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "current_password: is not your current password")
	changed, err := s.client.ChangePassword(ctx, rpctest.Request(laptopToken, &authv1.ChangePasswordRequest{CurrentPassword: "plum tree 42", NewPassword: "apple orchard 7"}))
	if err != nil || changed.Msg.GetRevokedSessions() != 1 {
		t.Fatalf("ChangePassword = %v, %v; want the phone's session ended", changed, err)
	}
	if _, err := s.client.RefreshToken(ctx, connect.NewRequest(&authv1.RefreshTokenRequest{RefreshToken: phone.Msg.GetTokens().GetRefreshToken()})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("the phone still refreshes after the password change: %v", err)
	}

	// A new phone session, ended from the laptop by id, then "everywhere else".
	again, err := s.client.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: "vic@example.com", Password: "apple orchard 7"}))
	if err != nil {
		t.Fatal(err)
	}
	list, err = s.client.ListSessions(ctx, rpctest.Request(laptopToken, &authv1.ListSessionsRequest{}))
	if err != nil || len(list.Msg.GetSessions()) != 2 {
		t.Fatalf("sessions after a new login: %v, %v", list, err)
	}
	var newPhone string
	for _, ses := range list.Msg.GetSessions() {
		if !ses.GetCurrent() {
			newPhone = ses.GetSessionId()
		}
	}
	if _, err := s.client.RevokeSession(ctx, rpctest.Request(laptopToken, &authv1.RevokeSessionRequest{SessionId: newPhone})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.RefreshToken(ctx, connect.NewRequest(&authv1.RefreshTokenRequest{RefreshToken: again.Msg.GetTokens().GetRefreshToken()})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("a revoked session still refreshes: %v", err)
	}
	others, err := s.client.RevokeOtherSessions(ctx, rpctest.Request(laptopToken, &authv1.RevokeOtherSessionsRequest{}))
	if err != nil || others.Msg.GetRevokedSessions() != 0 {
		t.Fatalf("RevokeOtherSessions = %v, %v; want 0 left to end", others, err)
	}
}

// postJSON posts body to a procedure in the Connect protocol's JSON with token as its bearer
// token (none when token is ""), and returns the response's body, failing the test on any
// status but 200.
func postJSON(t *testing.T, s *testServer, path, token, body string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, res.StatusCode, b)
	}
	return string(b)
}

package authrpc_test

import (
	"context"
	"testing"

	"connectrpc.com/connect"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/platform/rpctest"
)

// TestDeleteAccountOverConnect drives DeleteAccount through the real handler stack: it needs an
// access token and the password, refuses a wrong one with the field named, and takes plain JSON.
func TestDeleteAccountOverConnect(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	reg, err := s.client.Register(ctx, connect.NewRequest(&authv1.RegisterRequest{Email: "una@example.com", Password: "plum tree 42", Nickname: "una"}))
	if err != nil {
		t.Fatal(err)
	}
	token := reg.Msg.GetTokens().GetAccessToken()

	_, err = s.client.DeleteAccount(ctx, rpctest.Request("", &authv1.DeleteAccountRequest{Password: "plum tree 42"}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "")
	_, err = s.client.DeleteAccount(ctx, rpctest.Request(token, &authv1.DeleteAccountRequest{}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "password: required")
	_, err = s.client.DeleteAccount(ctx, rpctest.Request(token, &authv1.DeleteAccountRequest{Password: "plum tree 41"}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "password: is not your current password")

	if body := postJSON(t, s, "/parley.auth.v1.AuthService/DeleteAccount", token, `{"password":"plum tree 42"}`); body != "{}" {
		t.Fatalf("DeleteAccount JSON answer %s, want {}", body)
	}
	// The access token is still well signed (the gateway refuses it from the SessionRevoked
	// event on); auth itself no longer knows the account.
	_, err = s.client.GetMe(ctx, rpctest.Request(token, &authv1.GetMeRequest{}))
	rpctest.WantCode(t, err, connect.CodeNotFound, "account not found")
	_, err = s.client.DeleteAccount(ctx, rpctest.Request(token, &authv1.DeleteAccountRequest{Password: "plum tree 42"}))
	rpctest.WantCode(t, err, connect.CodeNotFound, "account not found")
	_, err = s.client.RefreshToken(ctx, connect.NewRequest(&authv1.RefreshTokenRequest{RefreshToken: reg.Msg.GetTokens().GetRefreshToken()}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "")
	_, err = s.client.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: "una@example.com", Password: "plum tree 42"}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "email or password is incorrect")
}

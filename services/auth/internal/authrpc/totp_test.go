package authrpc_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/platform/rpctest"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

func newTOTPKey(t *testing.T) *auth.TOTPKey {
	t.Helper()
	material := make([]byte, auth.TOTPKeySize)
	_, _ = rand.Read(material)
	key, err := auth.NewTOTPKey(material)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// codeIn is what an authenticator app with secret shows steps × 30 s from now. The server runs
// on the real clock and accepts one step either side, so a test takes now's code for one use and
// the next step's for another, without waiting for time to pass.
func codeIn(t *testing.T, secret string, steps int) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, time.Now().Add(time.Duration(steps)*30*time.Second),
		totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enableTOTP enrols and confirms an authenticator for the token's account with now's code.
func enableTOTP(t *testing.T, s *testServer, token string) (secret string, recovery []string) {
	t.Helper()
	ctx := context.Background()
	enrol, err := s.client.EnrollTOTP(ctx, rpctest.Request(token, &authv1.EnrollTOTPRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	confirm, err := s.client.ConfirmTOTP(ctx, rpctest.Request(token, &authv1.ConfirmTOTPRequest{Code: codeIn(t, enrol.Msg.GetSecret(), 0)}))
	if err != nil {
		t.Fatal(err)
	}
	return enrol.Msg.GetSecret(), confirm.Msg.GetRecoveryCodes()
}

func TestTwoFactorOverConnect(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	reg, err := s.client.Register(ctx, connect.NewRequest(&authv1.RegisterRequest{Email: "vera@example.com", Password: "plum tree 42", Nickname: "vera"}))
	if err != nil {
		t.Fatal(err)
	}
	token := reg.Msg.GetTokens().GetAccessToken()

	_, err = s.client.EnrollTOTP(ctx, connect.NewRequest(&authv1.EnrollTOTPRequest{}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "access token")
	enrol, err := s.client.EnrollTOTP(ctx, rpctest.Request(token, &authv1.EnrollTOTPRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	secret := enrol.Msg.GetSecret()
	if !strings.HasPrefix(enrol.Msg.GetOtpauthUri(), "otpauth://totp/Parley:vera@example.com?") || !strings.Contains(enrol.Msg.GetOtpauthUri(), "secret="+secret) {
		t.Fatalf("EnrollTOTP = %v", enrol.Msg)
	}
	_, err = s.client.ConfirmTOTP(ctx, rpctest.Request(token, &authv1.ConfirmTOTPRequest{Code: "12345"}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "code: must be the 6 digits")
	confirm, err := s.client.ConfirmTOTP(ctx, rpctest.Request(token, &authv1.ConfirmTOTPRequest{Code: codeIn(t, secret, 0)}))
	if err != nil {
		t.Fatal(err)
	}
	recovery := confirm.Msg.GetRecoveryCodes()
	if len(recovery) != 10 {
		t.Fatalf("recovery codes %v", recovery)
	}
	me, err := s.client.GetMe(ctx, rpctest.Request(token, &authv1.GetMeRequest{}))
	if err != nil || !me.Msg.GetAccount().GetTotpEnabled() || me.Msg.GetAccount().GetRecoveryCodesRemaining() != 10 {
		t.Fatalf("GetMe = %v, %v; want totp_enabled and 10 recovery codes", me, err)
	}
	_, err = s.client.EnrollTOTP(ctx, rpctest.Request(token, &authv1.EnrollTOTPRequest{}))
	rpctest.WantCode(t, err, connect.CodeFailedPrecondition, "already active")

	// Login answers with a challenge, no tokens — in plain JSON too.
	login, err := s.client.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: "vera@example.com", Password: "plum tree 42"}))
	if err != nil {
		t.Fatal(err)
	}
	sf := login.Msg.GetSecondFactor()
	if login.Msg.GetTokens() != nil || login.Msg.GetUserId() != "" || sf.GetChallenge() == "" ||
		!slices.Equal(sf.GetMethods(), []string{"totp", "recovery_code"}) || time.Until(sf.GetExpiresAt().AsTime()) > 5*time.Minute {
		t.Fatalf("Login of a TOTP account = %v", login.Msg)
	}
	var plain map[string]json.RawMessage
	if err := json.Unmarshal([]byte(postJSON(t, s, "/parley.auth.v1.AuthService/Login", "", `{"email":"vera@example.com","password":"plum tree 42"}`)), &plain); err != nil {
		t.Fatal(err)
	}
	if _, ok := plain["tokens"]; ok || !strings.Contains(string(plain["secondFactor"]), `"challenge":`) {
		t.Fatalf("Login in JSON = %v; want secondFactor and no tokens", plain)
	}

	_, err = s.client.CompleteTwoFactor(ctx, connect.NewRequest(&authv1.CompleteTwoFactorRequest{Code: "123456"}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "challenge: required")
	wrong := "000000"
	if wrong == codeIn(t, secret, 0) || wrong == codeIn(t, secret, 1) || wrong == codeIn(t, secret, -1) {
		wrong = "999999"
	}
	_, err = s.client.CompleteTwoFactor(ctx, connect.NewRequest(&authv1.CompleteTwoFactorRequest{Challenge: sf.GetChallenge(), Code: wrong}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "the code is not correct")
	next := codeIn(t, secret, 1) // now's code confirmed the enrolment: it is spent
	done, err := s.client.CompleteTwoFactor(ctx, connect.NewRequest(&authv1.CompleteTwoFactorRequest{Challenge: sf.GetChallenge(), Code: next}))
	if err != nil {
		t.Fatal(err)
	}
	if done.Msg.GetUserId() != reg.Msg.GetUserId() || done.Msg.GetRecoveryCodesRemaining() != 10 {
		t.Fatalf("CompleteTwoFactor = %v", done.Msg)
	}
	if _, err := s.client.GetMe(ctx, rpctest.Request(done.Msg.GetTokens().GetAccessToken(), &authv1.GetMeRequest{})); err != nil {
		t.Fatalf("the two-step session's access token: %v", err)
	}
	_, err = s.client.CompleteTwoFactor(ctx, connect.NewRequest(&authv1.CompleteTwoFactorRequest{Challenge: sf.GetChallenge(), Code: next}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "sign-in challenge is not valid any more")

	login, err = s.client.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: "vera@example.com", Password: "plum tree 42"}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.client.CompleteTwoFactor(ctx, connect.NewRequest(&authv1.CompleteTwoFactorRequest{Challenge: login.Msg.GetSecondFactor().GetChallenge(), Code: next}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "already used")
	done, err = s.client.CompleteTwoFactor(ctx, connect.NewRequest(&authv1.CompleteTwoFactorRequest{
		Challenge: login.Msg.GetSecondFactor().GetChallenge(), RecoveryCode: recovery[0]}))
	if err != nil || done.Msg.GetRecoveryCodesRemaining() != 9 {
		t.Fatalf("CompleteTwoFactor with a recovery code = %v, %v; want 9 left", done, err)
	}

	_, err = s.client.DisableTOTP(ctx, rpctest.Request(token, &authv1.DisableTOTPRequest{CurrentPassword: "nope nope"}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "current_password: is not your current password")
	if _, err := s.client.DisableTOTP(ctx, rpctest.Request(token, &authv1.DisableTOTPRequest{CurrentPassword: "plum tree 42"})); err != nil {
		t.Fatal(err)
	}
	_, err = s.client.DisableTOTP(ctx, rpctest.Request(token, &authv1.DisableTOTPRequest{CurrentPassword: "plum tree 42"}))
	rpctest.WantCode(t, err, connect.CodeFailedPrecondition, "not active")
	login, err = s.client.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: "vera@example.com", Password: "plum tree 42"}))
	if err != nil || login.Msg.GetTokens().GetAccessToken() == "" || login.Msg.GetSecondFactor() != nil {
		t.Fatalf("Login after disabling = %v, %v; want tokens", login, err)
	}
}

func TestTwoFactorCodesAreThrottledOverConnect(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	reg, err := s.client.Register(ctx, connect.NewRequest(&authv1.RegisterRequest{Email: "wes@example.com", Password: "plum tree 42", Nickname: "wes"}))
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := enableTOTP(t, s, reg.Msg.GetTokens().GetAccessToken())
	login, err := s.client.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: "wes@example.com", Password: "plum tree 42"}))
	if err != nil {
		t.Fatal(err)
	}
	complete := func(code string) error {
		_, err := s.client.CompleteTwoFactor(ctx, connect.NewRequest(&authv1.CompleteTwoFactorRequest{Challenge: login.Msg.GetSecondFactor().GetChallenge(), Code: code}))
		return err
	}
	wrong := "000000"
	for slices.Contains([]string{codeIn(t, secret, -1), codeIn(t, secret, 0), codeIn(t, secret, 1)}, wrong) {
		wrong = "999999"
	}
	// The password step is failure 1 until a code is right; 4 wrong codes make 5.
	for range testThrottle.FreeFailures - 1 {
		rpctest.WantCode(t, complete(wrong), connect.CodeUnauthenticated, "the code is not correct")
	}
	err = complete(codeIn(t, secret, 1))
	rpctest.WantCode(t, err, connect.CodeResourceExhausted, "too many failed sign-in attempts for this email; try again in ")
	var ce *connect.Error
	errors.As(err, &ce)
	if secs, _ := strconv.Atoi(ce.Meta().Get("Retry-After")); secs < 3500 || secs > 3600 {
		t.Fatalf("Retry-After %q; want the hour's back-off", ce.Meta().Get("Retry-After"))
	}
}

// An account created through an identity provider: CompleteOAuth stops at the challenge too, and
// turning TOTP off takes a code (it has no password).
func TestTwoFactorAfterOAuth(t *testing.T) {
	s, idp := newOAuthServer(t)
	ctx := context.Background()
	claims := map[string]any{"email": "xena@example.com", "email_verified": true}
	first, err := signIn(t, s, idp, "subject-x", claims, "xena")
	if err != nil {
		t.Fatal(err)
	}
	token := first.GetTokens().GetAccessToken()
	secret, recovery := enableTOTP(t, s, token)

	again, err := signIn(t, s, idp, "subject-x", claims, "")
	if err != nil {
		t.Fatal(err)
	}
	if again.GetTokens() != nil || again.GetCreated() || again.GetSecondFactor().GetChallenge() == "" {
		t.Fatalf("CompleteOAuth of a TOTP account = %v; want a challenge", again)
	}
	done, err := s.client.CompleteTwoFactor(ctx, connect.NewRequest(&authv1.CompleteTwoFactorRequest{Challenge: again.GetSecondFactor().GetChallenge(), Code: codeIn(t, secret, 1)}))
	if err != nil || done.Msg.GetUserId() != first.GetUserId() {
		t.Fatalf("CompleteTwoFactor = %v, %v", done, err)
	}
	sessions, err := s.client.ListSessions(ctx, rpctest.Request(done.Msg.GetTokens().GetAccessToken(), &authv1.ListSessionsRequest{}))
	if err != nil || sessions.Msg.GetSessions()[0].GetMethod() != "oauth:dev" {
		t.Fatalf("ListSessions = %v, %v; want the new session's method oauth:dev", sessions, err)
	}

	_, err = s.client.DisableTOTP(ctx, rpctest.Request(token, &authv1.DisableTOTPRequest{}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "code: required")
	if _, err := s.client.DisableTOTP(ctx, rpctest.Request(token, &authv1.DisableTOTPRequest{RecoveryCode: recovery[9]})); err != nil {
		t.Fatal(err)
	}
	plainAgain, err := signIn(t, s, idp, "subject-x", claims, "")
	if err != nil || plainAgain.GetTokens().GetAccessToken() == "" {
		t.Fatalf("CompleteOAuth after disabling = %v, %v; want tokens", plainAgain, err)
	}
}

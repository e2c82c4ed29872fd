package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
)

// totpCode is what an authenticator app with secret shows steps × 30 s from now (auth accepts one
// step either side of its clock, and each step once).
func totpCode(t *testing.T, secret string, steps int) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, time.Now().Add(time.Duration(steps)*30*time.Second),
		totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testTwoFactor: an authenticator app through the gateway — enrol with the QR payload, confirm
// with a code, sign out; signing in takes two steps (the password, then a code; plain JSON shows
// the challenge instead of tokens), a recovery code works once, and turning it off with the
// password makes sign-in one step again.
func testTwoFactor(t *testing.T) {
	c := newClients()
	ctx := context.Background()
	p := signUp(t, c, "twofactor")
	const password = "correct horse battery staple"
	first, err := c.auth.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: p.email, Password: password}))
	if err != nil {
		t.Fatal(err)
	}
	token := first.Msg.GetTokens().GetAccessToken()

	enrol, err := c.auth.EnrollTOTP(ctx, withToken(&authv1.EnrollTOTPRequest{}, token))
	if err != nil {
		t.Fatal(err)
	}
	key, err := otp.NewKeyFromURL(enrol.Msg.GetOtpauthUri())
	if err != nil || key.Issuer() != "Parley" || key.AccountName() != p.email || key.Secret() != enrol.Msg.GetSecret() {
		t.Fatalf("otpauth URI %q: %v", enrol.Msg.GetOtpauthUri(), err)
	}
	secret := enrol.Msg.GetSecret()
	_, err = c.auth.ConfirmTOTP(ctx, withToken(&authv1.ConfirmTOTPRequest{Code: "123"}, token))
	wantCode(t, err, connect.CodeInvalidArgument)
	confirmed, err := c.auth.ConfirmTOTP(ctx, withToken(&authv1.ConfirmTOTPRequest{Code: totpCode(t, secret, 0)}, token))
	if err != nil || len(confirmed.Msg.GetRecoveryCodes()) != 10 {
		t.Fatalf("ConfirmTOTP = %v, %v; want 10 recovery codes", confirmed, err)
	}
	recovery := confirmed.Msg.GetRecoveryCodes()
	me, err := c.auth.GetMe(ctx, withToken(&authv1.GetMeRequest{}, token))
	if err != nil || !me.Msg.GetAccount().GetTotpEnabled() {
		t.Fatalf("GetMe = %v, %v; want totp_enabled", me, err)
	}

	// Sign out, then in again in two steps: plain JSON shows the challenge and no tokens.
	if _, err := c.auth.Logout(ctx, connect.NewRequest(&authv1.LogoutRequest{RefreshToken: first.Msg.GetTokens().GetRefreshToken()})); err != nil {
		t.Fatal(err)
	}
	status, body := call(t, "parley.auth.v1.AuthService/Login", "", map[string]any{"email": p.email, "password": password})
	challenge, _ := body["secondFactor"].(map[string]any)
	if status != 200 || body["tokens"] != nil || challenge["challenge"] == nil {
		t.Fatalf("Login of a TOTP account in JSON: %d %v; want secondFactor and no tokens", status, body)
	}
	status, body = call(t, "parley.auth.v1.AuthService/CompleteTwoFactor", "", map[string]any{"challenge": challenge["challenge"], "code": "12x456"})
	if status != 400 || body["code"] != "invalid_argument" {
		t.Fatalf("CompleteTwoFactor with a malformed code: %d %v", status, body)
	}
	// Now's code confirmed the enrolment, so it is spent; the app's next one signs in.
	_, err = c.auth.CompleteTwoFactor(ctx, connect.NewRequest(&authv1.CompleteTwoFactorRequest{Challenge: challenge["challenge"].(string), Code: totpCode(t, secret, 0)}))
	wantCode(t, err, connect.CodeUnauthenticated)
	done, err := c.auth.CompleteTwoFactor(ctx, connect.NewRequest(&authv1.CompleteTwoFactorRequest{Challenge: challenge["challenge"].(string), Code: totpCode(t, secret, 1)}))
	if err != nil || done.Msg.GetUserId() != p.id {
		t.Fatalf("CompleteTwoFactor = %v, %v", done, err)
	}
	token = done.Msg.GetTokens().GetAccessToken()
	if _, err := c.auth.GetMe(ctx, withToken(&authv1.GetMeRequest{}, token)); err != nil {
		t.Fatalf("the two-step session through the gateway: %v", err)
	}

	// A recovery code instead of the app: once.
	login, err := c.auth.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: p.email, Password: password}))
	if err != nil || login.Msg.GetTokens() != nil || !slices.Contains(login.Msg.GetSecondFactor().GetMethods(), "recovery_code") {
		t.Fatalf("Login = %v, %v; want a challenge that takes recovery codes", login, err)
	}
	byRecovery, err := c.auth.CompleteTwoFactor(ctx, connect.NewRequest(&authv1.CompleteTwoFactorRequest{Challenge: login.Msg.GetSecondFactor().GetChallenge(), RecoveryCode: recovery[0]}))
	if err != nil || byRecovery.Msg.GetRecoveryCodesRemaining() != 9 || byRecovery.Msg.GetTokens().GetAccessToken() == "" {
		t.Fatalf("CompleteTwoFactor with a recovery code = %v, %v", byRecovery, err)
	}
	login, err = c.auth.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: p.email, Password: password}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.auth.CompleteTwoFactor(ctx, connect.NewRequest(&authv1.CompleteTwoFactorRequest{Challenge: login.Msg.GetSecondFactor().GetChallenge(), RecoveryCode: recovery[0]}))
	wantCode(t, err, connect.CodeUnauthenticated)

	// Off, with the password (plain JSON): sign-in is one step again.
	status, body = call(t, "parley.auth.v1.AuthService/DisableTOTP", token, map[string]any{"currentPassword": "not it at all"})
	if status != 400 || body["code"] != "invalid_argument" {
		t.Fatalf("DisableTOTP with a wrong password: %d %v", status, body)
	}
	if status, body = call(t, "parley.auth.v1.AuthService/DisableTOTP", token, map[string]any{"currentPassword": password}); status != 200 {
		t.Fatalf("DisableTOTP: %d %v", status, body)
	}
	me, err = c.auth.GetMe(ctx, withToken(&authv1.GetMeRequest{}, token))
	if err != nil || me.Msg.GetAccount().GetTotpEnabled() || me.Msg.GetAccount().GetRecoveryCodesRemaining() != 0 {
		t.Fatalf("GetMe after disabling = %v, %v", me, err)
	}
	plain, err := c.auth.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: p.email, Password: password}))
	if err != nil || plain.Msg.GetTokens().GetAccessToken() == "" || plain.Msg.GetSecondFactor() != nil {
		t.Fatalf("Login after disabling = %v, %v; want tokens", plain, err)
	}
}

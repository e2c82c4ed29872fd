package authdb_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/pgtest"

	"github.com/parleyhq/parley/services/auth/internal/auth"
	"github.com/parleyhq/parley/services/auth/internal/authtest"
)

// totpEnv is a service with a TOTP key and the small throttle policy of throttle_test.go.
type totpEnv struct {
	*env
	svc *auth.Service
}

func newTOTPEnv(t *testing.T) *totpEnv {
	t.Helper()
	e := newEnv(t)
	hasher := authtest.Hasher(t)
	material := make([]byte, auth.TOTPKeySize)
	_, _ = rand.Read(material)
	key, err := auth.NewTOTPKey(material)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.NewService(auth.Deps{
		Store: e.store, Hasher: hasher, Tokens: e.tokens, RefreshTokenTTL: 30 * 24 * time.Hour, Throttle: testPolicy,
		TOTPKey: key, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: e.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &totpEnv{env: e, svc: svc}
}

// code is what an authenticator app with secret shows at the env's current time.
func (e *totpEnv) code(t *testing.T, secret string) string {
	t.Helper()
	return codeAt(t, secret, e.clock())
}

func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// toStepStart moves the clock to the start of the next 30-second step, so tests know which codes
// are current.
func (e *totpEnv) toStepStart() {
	now := e.clock()
	e.advance(now.Truncate(30 * time.Second).Add(30 * time.Second).Sub(now))
}

// activate registers a password account and turns TOTP on: its secret and recovery codes.
func (e *totpEnv) activate(t *testing.T, email string) (userID, secret string, recovery []string) {
	t.Helper()
	ctx := context.Background()
	userID, _, err := e.svc.Register(ctx, email, "plum tree 42", strings.Split(email, "@")[0])
	if err != nil {
		t.Fatal(err)
	}
	enrol, err := e.svc.EnrollTOTP(ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	e.toStepStart()
	recovery, err = e.svc.ConfirmTOTP(ctx, userID, e.code(t, enrol.Secret))
	if err != nil {
		t.Fatal(err)
	}
	return userID, enrol.Secret, recovery
}

// challenge signs in with the password and returns the second-factor challenge.
func (e *totpEnv) challenge(t *testing.T, email, client string) *auth.SecondFactorRequired {
	t.Helper()
	_, tokens, err := e.svc.Login(context.Background(), email, "plum tree 42", client)
	var sf *auth.SecondFactorRequired
	if !errors.As(err, &sf) {
		t.Fatalf("login of a TOTP account = tokens %+v, error %v; want SecondFactorRequired", tokens, err)
	}
	return sf
}

func TestTOTPEnrolConfirmAndSignInInTwoSteps(t *testing.T) {
	e := newTOTPEnv(t)
	ctx := context.Background()
	userID, _, err := e.svc.Register(ctx, "lea@example.com", "plum tree 42", "lea")
	if err != nil {
		t.Fatal(err)
	}
	if acc, _ := e.svc.GetMe(ctx, userID); acc.TOTPEnabled || acc.RecoveryCodesRemaining != 0 {
		t.Fatalf("a new account: %+v", acc)
	}

	// Enrolment: a secret and its QR payload; nothing is in force yet.
	first, err := e.svc.EnrollTOTP(ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	key, err := otp.NewKeyFromURL(first.URI)
	if err != nil {
		t.Fatal(err)
	}
	if key.Type() != "totp" || key.Issuer() != "Parley" || key.AccountName() != "lea@example.com" || key.Secret() != first.Secret || len(first.Secret) != 32 {
		t.Fatalf("otpauth URI %q: type %s issuer %q account %q secret %q", first.URI, key.Type(), key.Issuer(), key.AccountName(), key.Secret())
	}
	if _, _, err := e.svc.Login(ctx, "lea@example.com", "plum tree 42", testClient); err != nil {
		t.Fatalf("login while the enrolment is unconfirmed: %v, want tokens", err)
	}
	// A new enrolment replaces the unconfirmed one: the first secret's codes no longer confirm.
	second, err := e.svc.EnrollTOTP(ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	if second.Secret == first.Secret {
		t.Fatal("a new enrolment reused the secret")
	}
	e.toStepStart()
	if _, err := e.svc.ConfirmTOTP(ctx, userID, e.code(t, first.Secret)); !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), "code: ") {
		t.Fatalf("confirming with the replaced secret's code: %v, want InvalidArgument code: …", err)
	}
	for _, bad := range []string{"", "12345", "12345a", "1234567"} {
		if _, err := e.svc.ConfirmTOTP(ctx, userID, bad); !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), "code: ") {
			t.Errorf("ConfirmTOTP(%q) = %v, want InvalidArgument code: …", bad, err)
		}
	}
	// The stored secret is sealed: its text is nowhere in the row.
	var sealed []byte
	if err := e.pool.QueryRow(ctx, `SELECT secret_sealed FROM totp_credentials WHERE user_id = $1`, userID).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(second.Secret)) {
		t.Fatal("the TOTP secret is stored in clear")
	}

	confirmedCode := e.code(t, second.Secret)
	recovery, err := e.svc.ConfirmTOTP(ctx, userID, confirmedCode)
	if err != nil {
		t.Fatal(err)
	}
	format := regexp.MustCompile(`^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`)
	if len(recovery) != auth.RecoveryCodeCount || len(slices.Compact(slices.Sorted(slices.Values(recovery)))) != auth.RecoveryCodeCount {
		t.Fatalf("recovery codes %v: want %d distinct", recovery, auth.RecoveryCodeCount)
	}
	for _, c := range recovery {
		if !format.MatchString(c) {
			t.Errorf("recovery code %q: want xxxx-xxxx-xxxx", c)
		}
		if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM totp_recovery_codes WHERE position($1::bytea IN code_hash) > 0`, []byte(c)); n != 0 {
			t.Errorf("recovery code %q stored in clear", c)
		}
	}
	if acc, _ := e.svc.GetMe(ctx, userID); !acc.TOTPEnabled || acc.RecoveryCodesRemaining != 10 {
		t.Fatalf("after confirming: %+v", acc)
	}
	if _, err := e.svc.EnrollTOTP(ctx, userID); !errors.Is(err, auth.ErrTOTPAlreadyActive) {
		t.Fatalf("enrolling while active: %v, want ErrTOTPAlreadyActive", err)
	}
	if _, err := e.svc.ConfirmTOTP(ctx, userID, confirmedCode); !errors.Is(err, auth.ErrTOTPAlreadyActive) {
		t.Fatalf("confirming again: %v, want ErrTOTPAlreadyActive", err)
	}

	// Login now stops at a challenge: no session, no tokens.
	sessions := pgtest.Count(t, e.pool, `SELECT count(*) FROM sessions WHERE user_id = $1`, userID)
	loggedIn := len(outboxRows(t, e.pool, typeLoggedIn))
	sf := e.challenge(t, "lea@example.com", testClient)
	if !slices.Equal(sf.Methods, []string{"totp", "recovery_code"}) || !sf.ExpiresAt.Equal(e.clock().Add(5*time.Minute)) || len(sf.Challenge) != 43 {
		t.Fatalf("challenge %+v", sf)
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM sessions WHERE user_id = $1`, userID); n != sessions {
		t.Fatalf("the password alone made a session (%d → %d)", sessions, n)
	}
	// The code that confirmed the enrolment is spent: it cannot sign in within its window.
	if _, _, _, err := e.svc.CompleteTwoFactor(ctx, sf.Challenge, confirmedCode, "", testClient); !errors.Is(err, auth.ErrSecondFactorSpent) || !errors.Is(err, domainerr.ErrUnauthenticated) {
		t.Fatalf("replaying the confirmation code: %v, want ErrSecondFactorSpent (Unauthenticated)", err)
	}
	if _, _, _, err := e.svc.CompleteTwoFactor(ctx, sf.Challenge, "000000", "", testClient); !errors.Is(err, auth.ErrBadSecondFactor) {
		if codeAt(t, second.Secret, e.clock()) != "000000" { // 1 in a million
			t.Fatalf("a wrong code: %v, want ErrBadSecondFactor", err)
		}
	}
	e.advance(30 * time.Second)
	code := e.code(t, second.Secret)
	gotUser, tokens, left, err := e.svc.CompleteTwoFactor(ctx, sf.Challenge, code, "", testClient)
	if err != nil {
		t.Fatal(err)
	}
	if gotUser != userID || left != 10 {
		t.Fatalf("completed: user %s, %d recovery codes left", gotUser, left)
	}
	if refreshed, _, err := e.svc.RefreshToken(ctx, tokens.RefreshToken); err != nil || refreshed != userID {
		t.Fatalf("the session's refresh token: %s, %v", refreshed, err)
	}
	if s := e.sessionOf(t, userID, tokens); s.sessionID == "" {
		t.Fatal("no session for the tokens")
	}
	if n := len(outboxRows(t, e.pool, typeLoggedIn)); n != loggedIn+1 {
		t.Fatalf("UserLoggedIn events %d → %d, want one more", loggedIn, n)
	}
	// The challenge worked once; the code cannot be replayed with a new challenge either.
	if _, _, _, err := e.svc.CompleteTwoFactor(ctx, sf.Challenge, code, "", testClient); !errors.Is(err, auth.ErrChallengeInvalid) {
		t.Fatalf("reusing the challenge: %v, want ErrChallengeInvalid", err)
	}
	again := e.challenge(t, "lea@example.com", testClient)
	if _, _, _, err := e.svc.CompleteTwoFactor(ctx, again.Challenge, code, "", testClient); !errors.Is(err, auth.ErrSecondFactorSpent) {
		t.Fatalf("replaying a used code: %v, want ErrSecondFactorSpent", err)
	}
	// A code of the previous step is still accepted (clock skew) only if it is newer than the last
	// used one: it is not.
	if _, _, _, err := e.svc.CompleteTwoFactor(ctx, again.Challenge, codeAt(t, second.Secret, e.clock().Add(-30*time.Second)), "", "192.0.2.30"); !errors.Is(err, auth.ErrSecondFactorSpent) {
		t.Fatalf("an older step's code after a newer one: %v, want ErrSecondFactorSpent", err)
	}
	// The next step's code (a phone clock a little ahead) works.
	if _, _, _, err := e.svc.CompleteTwoFactor(ctx, again.Challenge, codeAt(t, second.Secret, e.clock().Add(30*time.Second)), "", testClient); err != nil {
		t.Fatalf("next step's code: %v", err)
	}
}

func TestRecoveryCodesWorkOnce(t *testing.T) {
	e := newTOTPEnv(t)
	ctx := context.Background()
	userID, _, recovery := e.activate(t, "max@example.com")

	sf := e.challenge(t, "max@example.com", testClient)
	typed := " " + strings.ToUpper(strings.ReplaceAll(recovery[3], "-", " ")) + " "
	gotUser, tokens, left, err := e.svc.CompleteTwoFactor(ctx, sf.Challenge, "", typed, testClient)
	if err != nil {
		t.Fatal(err)
	}
	if gotUser != userID || left != 9 || tokens.AccessToken == "" || e.sessionOf(t, userID, tokens).sessionID == "" {
		t.Fatalf("recovery sign-in: user %s, left %d", gotUser, left)
	}
	if acc, _ := e.svc.GetMe(ctx, userID); acc.RecoveryCodesRemaining != 9 {
		t.Fatalf("GetMe after using one: %+v", acc)
	}
	// Each wrong answer below comes from its own client, so the throttle stays out of the way.
	sf = e.challenge(t, "max@example.com", testClient)
	if _, _, _, err := e.svc.CompleteTwoFactor(ctx, sf.Challenge, "", recovery[3], "192.0.2.11"); !errors.Is(err, auth.ErrSecondFactorSpent) {
		t.Fatalf("a used recovery code: %v, want ErrSecondFactorSpent", err)
	}
	if _, _, _, err := e.svc.CompleteTwoFactor(ctx, sf.Challenge, "", "aaaa-bbbb-cccc", "192.0.2.12"); !errors.Is(err, auth.ErrBadSecondFactor) {
		t.Fatalf("an unknown recovery code: %v, want ErrBadSecondFactor", err)
	}
	if _, _, _, err := e.svc.CompleteTwoFactor(ctx, sf.Challenge, "", "short", "192.0.2.13"); !errors.Is(err, auth.ErrBadSecondFactor) {
		t.Fatalf("a malformed recovery code: %v, want ErrBadSecondFactor", err)
	}
	// Another account's code is not this account's (the hash is keyed by the user too).
	_, _, others := e.activate(t, "ned@example.com")
	if _, _, _, err := e.svc.CompleteTwoFactor(ctx, sf.Challenge, "", others[0], "192.0.2.14"); !errors.Is(err, auth.ErrBadSecondFactor) {
		t.Fatalf("another account's recovery code: %v, want ErrBadSecondFactor", err)
	}
	// Requests that are malformed are refused before anything is counted.
	for _, c := range []struct{ challenge, code, recovery, want string }{
		{"", "123456", "", "challenge: required"},
		{sf.Challenge, "", "", "code: required"},
		{sf.Challenge, "123456", recovery[0], "recovery_code: give either"},
		{sf.Challenge, "12 456", "", "code: must be the 6 digits"},
	} {
		if _, _, _, err := e.svc.CompleteTwoFactor(ctx, c.challenge, c.code, c.recovery, testClient); !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CompleteTwoFactor(%q, %q, %q) = %v, want InvalidArgument %q", c.challenge, c.code, c.recovery, err, c.want)
		}
	}
	if _, _, _, err := e.svc.CompleteTwoFactor(ctx, "not-a-challenge", "123456", "", testClient); !errors.Is(err, auth.ErrChallengeInvalid) {
		t.Errorf("a made-up challenge: %v, want ErrChallengeInvalid", err)
	}
}

func TestSecondFactorChallengeExpiresAndCodesAreThrottled(t *testing.T) {
	e := newTOTPEnv(t)
	ctx := context.Background()
	_, secret, _ := e.activate(t, "oda@example.com")

	sf := e.challenge(t, "oda@example.com", "192.0.2.20")
	e.advance(auth.ChallengeTTL)
	if _, _, _, err := e.svc.CompleteTwoFactor(ctx, sf.Challenge, e.code(t, secret), "", "192.0.2.20"); !errors.Is(err, auth.ErrChallengeInvalid) {
		t.Fatalf("an expired challenge: %v, want ErrChallengeInvalid", err)
	}

	// testPolicy: 3 failures in a row are free, then 1 s, 2 s, … The password step stays counted
	// until the code is right, and wrong codes count like wrong passwords, for this email × client.
	sf = e.challenge(t, "oda@example.com", testClient) // failure 1 (the password step)
	wrong := "000000"
	if wrong == e.code(t, secret) {
		wrong = "111111"
	}
	for i := 2; i <= 3; i++ {
		if _, _, _, err := e.svc.CompleteTwoFactor(ctx, sf.Challenge, wrong, "", testClient); !errors.Is(err, auth.ErrBadSecondFactor) {
			t.Fatalf("wrong code %d: %v, want ErrBadSecondFactor", i, err)
		}
	}
	_, _, _, err := e.svc.CompleteTwoFactor(ctx, sf.Challenge, e.code(t, secret), "", testClient)
	var de *domainerr.Error
	if !errors.Is(err, auth.ErrTooManyAttempts) || !errors.As(err, &de) || de.RetryAfter != time.Second {
		t.Fatalf("after 3 failures (password step + 2 wrong codes): %v, want ErrTooManyAttempts with 1 s", err)
	}
	// The same throttle holds the password step for this client; another client is not affected.
	if _, _, err := e.svc.Login(ctx, "oda@example.com", "plum tree 42", testClient); !errors.Is(err, auth.ErrTooManyAttempts) {
		t.Fatalf("login from the throttled client: %v, want ErrTooManyAttempts", err)
	}
	other := e.challenge(t, "oda@example.com", "192.0.2.1")
	e.advance(30 * time.Second) // a new step: the throttle's wait is over too
	if _, _, _, err := e.svc.CompleteTwoFactor(ctx, other.Challenge, e.code(t, secret), "", "192.0.2.1"); err != nil {
		t.Fatalf("from another client: %v", err)
	}
	// After the wait, the right code from the first client signs in and resets its count.
	e.advance(30 * time.Second)
	if _, _, _, err := e.svc.CompleteTwoFactor(ctx, sf.Challenge, e.code(t, secret), "", testClient); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
	if _, _, err := e.svc.Login(ctx, "oda@example.com", "wrong password", testClient); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("after a success the count starts again: %v, want ErrBadCredentials", err)
	}
}

func TestDisableTOTP(t *testing.T) {
	e := newTOTPEnv(t)
	ctx := context.Background()
	userID, _, _ := e.activate(t, "pia@example.com")
	pending := e.challenge(t, "pia@example.com", testClient)

	if err := e.svc.DisableTOTP(ctx, userID, "", "", "", testClient); !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), "current_password: required") {
		t.Fatalf("without the password: %v", err)
	}
	if err := e.svc.DisableTOTP(ctx, userID, "not my password", "", "", testClient); !errors.Is(err, auth.ErrWrongCurrentPassword) {
		t.Fatalf("with a wrong password: %v, want ErrWrongCurrentPassword", err)
	}
	if err := e.svc.DisableTOTP(ctx, userID, "plum tree 42", "", "", testClient); err != nil {
		t.Fatal(err)
	}
	if acc, _ := e.svc.GetMe(ctx, userID); acc.TOTPEnabled || acc.RecoveryCodesRemaining != 0 {
		t.Fatalf("after disabling: %+v", acc)
	}
	for table, n := range map[string]int{
		"totp_credentials":    pgtest.Count(t, e.pool, `SELECT count(*) FROM totp_credentials WHERE user_id = $1`, userID),
		"totp_recovery_codes": pgtest.Count(t, e.pool, `SELECT count(*) FROM totp_recovery_codes WHERE user_id = $1`, userID),
		"login_challenges":    pgtest.Count(t, e.pool, `SELECT count(*) FROM login_challenges WHERE user_id = $1`, userID),
	} {
		if n != 0 {
			t.Errorf("%s: %d rows left", table, n)
		}
	}
	if _, _, _, err := e.svc.CompleteTwoFactor(ctx, pending.Challenge, "123456", "", testClient); !errors.Is(err, auth.ErrChallengeInvalid) {
		t.Fatalf("a challenge from before disabling: %v, want ErrChallengeInvalid", err)
	}
	if _, _, err := e.svc.Login(ctx, "pia@example.com", "plum tree 42", testClient); err != nil {
		t.Fatalf("login after disabling: %v, want tokens", err)
	}
	if err := e.svc.DisableTOTP(ctx, userID, "plum tree 42", "", "", testClient); !errors.Is(err, auth.ErrTOTPNotActive) {
		t.Fatalf("disabling again: %v, want ErrTOTPNotActive", err)
	}
}

// An account without a password (created through an identity provider) re-authenticates with a
// current code or a recovery code, each spent by the act.
func TestDisableTOTPWithoutAPasswordTakesACode(t *testing.T) {
	e := newTOTPEnv(t)
	ctx := context.Background()
	userID := "0190b6b1-7f3a-7c2e-9d4b-5a6c7d8e9f02"
	err := e.store.CreateAccount(ctx, auth.NewAccount{
		UserID: userID, Nickname: "quinn", Method: "oauth:dev", CreatedAt: e.clock(),
		Identity: &auth.Identity{Provider: "dev", Subject: "quinn"},
		Session:  auth.NewSession{ID: "0190b6b1-7f3a-7c2e-9d4b-5a6c7d8e9f03", UserID: userID, Method: "oauth:dev", CreatedAt: e.clock(), RefreshTokenHash: make([]byte, 32), RefreshTokenExpiresAt: e.clock().Add(time.Hour)},
	})
	if err != nil {
		t.Fatal(err)
	}
	enrol, err := e.svc.EnrollTOTP(ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	if key, _ := otp.NewKeyFromURL(enrol.URI); key.AccountName() != userID {
		t.Fatalf("an account without email is labelled %q, want its user id", key.AccountName())
	}
	e.toStepStart()
	confirm := e.code(t, enrol.Secret)
	if _, err := e.svc.ConfirmTOTP(ctx, userID, confirm); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DisableTOTP(ctx, userID, "", "", "", testClient); !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), "code: required") {
		t.Fatalf("without a code: %v", err)
	}
	if err := e.svc.DisableTOTP(ctx, userID, "", confirm, "", testClient); !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("with the spent confirmation code: %v, want InvalidArgument code: … already used", err)
	}
	if err := e.svc.DisableTOTP(ctx, userID, "", "", "aaaa-bbbb-cccc", testClient); !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), "recovery_code: ") {
		t.Fatalf("with an unknown recovery code: %v, want InvalidArgument recovery_code: …", err)
	}
	e.advance(30 * time.Second)
	if err := e.svc.DisableTOTP(ctx, userID, "", e.code(t, enrol.Secret), "", testClient); err != nil {
		t.Fatal(err)
	}
	if acc, _ := e.svc.GetMe(ctx, userID); acc.TOTPEnabled {
		t.Fatal("still enabled")
	}
}

// With two-factor authentication on, the password alone does not delete the account: a current
// code (once) or a recovery code must come with it.
func TestDeleteAccountAsksForTheSecondFactor(t *testing.T) {
	e := newTOTPEnv(t)
	ctx := context.Background()
	userID, secret, recovery := e.activate(t, "ada@example.com")
	sf := e.challenge(t, "ada@example.com", testClient)
	e.advance(30 * time.Second)
	sessionUser, _, _, err := e.svc.CompleteTwoFactor(ctx, sf.Challenge, e.code(t, secret), "", testClient)
	if err != nil || sessionUser != userID {
		t.Fatalf("sign in: %v", err)
	}
	var sessionID string
	if err := e.pool.QueryRow(ctx, `SELECT id::text FROM sessions WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC LIMIT 1`, userID).Scan(&sessionID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		re   auth.Reauth
		want string
	}{
		{auth.Reauth{Password: "plum tree 42"}, "code: required"},
		{auth.Reauth{Password: "plum tree 42", Code: "000000"}, "code: is not correct"},
		{auth.Reauth{Password: "plum tree 42", Code: e.code(t, secret)}, "code: was already used"}, // the step that signed in
		{auth.Reauth{Password: "plum tree 42", RecoveryCode: "aaaa-bbbb-cccc"}, "recovery_code: "},
	} {
		err := e.svc.DeleteAccount(ctx, userID, sessionID, tc.re, testClient)
		if !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("DeleteAccount(%+v) = %v, want InvalidArgument %q…", tc.re, err, tc.want)
		}
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM users WHERE id = $1`, userID); n != 1 {
		t.Fatal("the account went without its second factor")
	}
	if err := e.svc.DeleteAccount(ctx, userID, sessionID, auth.Reauth{Password: "plum tree 42", RecoveryCode: recovery[0]}, testClient); err != nil {
		t.Fatalf("with a recovery code: %v", err)
	}
	if n := pgtest.Count(t, e.pool, `SELECT count(*) FROM users WHERE id = $1`, userID); n != 0 {
		t.Fatal("the account is still there")
	}
}

// Login and GetMe read the TOTP status with the credential and the account (one query each):
// it must follow enrolment, confirmation, a used recovery code and disabling.
func TestAccountReadsCarryTheTOTPStatus(t *testing.T) {
	e := newTOTPEnv(t)
	ctx := context.Background()
	const email = "uma@example.com"
	userID, _, err := e.svc.Register(ctx, email, "plum tree 42", "uma")
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string, want auth.TOTPStatus) {
		t.Helper()
		cred, err := e.store.PasswordCredentials(ctx, email)
		if err != nil || cred.TOTP != want {
			t.Errorf("%s: PasswordCredentials TOTP = %+v, %v; want %+v", step, cred.TOTP, err, want)
		}
		acc, err := e.store.Account(ctx, userID)
		if err != nil || acc.TOTPEnabled != want.Active || acc.RecoveryCodesRemaining != want.RecoveryCodesRemaining {
			t.Errorf("%s: Account = %+v, %v; want TOTP %+v", step, acc, err, want)
		}
	}
	check("a new account", auth.TOTPStatus{})
	enrol, err := e.svc.EnrollTOTP(ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	check("an unconfirmed enrolment", auth.TOTPStatus{})
	e.toStepStart()
	recovery, err := e.svc.ConfirmTOTP(ctx, userID, e.code(t, enrol.Secret))
	if err != nil {
		t.Fatal(err)
	}
	check("confirmed", auth.TOTPStatus{Active: true, RecoveryCodesRemaining: auth.RecoveryCodeCount})
	sf := e.challenge(t, email, testClient)
	if _, _, _, err := e.svc.CompleteTwoFactor(ctx, sf.Challenge, "", recovery[0], testClient); err != nil {
		t.Fatal(err)
	}
	check("a recovery code used", auth.TOTPStatus{Active: true, RecoveryCodesRemaining: auth.RecoveryCodeCount - 1})
	if err := e.svc.DisableTOTP(ctx, userID, "plum tree 42", "", "", testClient); err != nil {
		t.Fatal(err)
	}
	check("disabled", auth.TOTPStatus{})
}

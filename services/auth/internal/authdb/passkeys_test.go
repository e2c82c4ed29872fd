package authdb_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/webauthntest"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

// The relying party of the tests' services: the software authenticator runs the ceremonies on
// testOrigin unless a test says otherwise.
const (
	testRPID   = "parley.test"
	testOrigin = "https://parley.test"
)

var testPasskeys = auth.PasskeyConfig{RPID: testRPID, RPDisplayName: "Parley Test", Origins: []string{testOrigin}}

// addPasskey registers a passkey of authr for the user through the service, as a browser would.
func (e *env) addPasskey(t *testing.T, userID string, authr *webauthntest.Authenticator, name string) auth.Passkey {
	t.Helper()
	ctx := context.Background()
	id, options, err := e.svc.BeginPasskeyRegistration(ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := authr.Create(string(options), testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.FinishPasskeyRegistration(ctx, userID, id, cred, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// passkeySignIn runs a usernameless sign-in with authr on origin.
func (e *env) passkeySignIn(t *testing.T, authr *webauthntest.Authenticator, origin string, c auth.Client) (string, auth.Tokens, error) {
	t.Helper()
	ctx := context.Background()
	id, options, err := e.svc.BeginPasskeyLogin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	assertion, err := authr.Get(string(options), origin)
	if err != nil {
		t.Fatal(err)
	}
	return e.svc.FinishPasskeyLogin(auth.WithClient(ctx, c), id, assertion)
}

func wantDomainErr(t *testing.T, err, kind error, msgContains string) {
	t.Helper()
	if !errors.Is(err, kind) || !strings.Contains(err.Error(), msgContains) {
		t.Fatalf("error %v; want %v containing %q", err, kind, msgContains)
	}
}

// TestPasskeyRegisterAndUsernamelessSignIn registers a passkey made by a software authenticator
// (real ES256 key, CBOR attestation object, signatures) and signs in with it without naming the
// account: a session like Login's, recording the device, the counter and the last use.
func TestPasskeyRegisterAndUsernamelessSignIn(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ann := e.register(t, "ann@example.com", "plum tree 42", auth.Client{})

	id, options, err := e.svc.BeginPasskeyRegistration(ctx, ann.userID)
	if err != nil {
		t.Fatal(err)
	}
	var creation struct {
		RP   struct{ ID, Name string }
		User struct {
			Name string
		}
		AuthenticatorSelection struct {
			ResidentKey        string `json:"residentKey"`
			RequireResidentKey bool   `json:"requireResidentKey"`
			UserVerification   string `json:"userVerification"`
		} `json:"authenticatorSelection"`
		Attestation string `json:"attestation"`
		Challenge   string `json:"challenge"`
	}
	if err := json.Unmarshal(options, &creation); err != nil {
		t.Fatal(err)
	}
	if creation.RP.ID != testRPID || creation.RP.Name != "Parley Test" || creation.User.Name != "ann@example.com" ||
		creation.AuthenticatorSelection.ResidentKey != "required" || !creation.AuthenticatorSelection.RequireResidentKey ||
		creation.AuthenticatorSelection.UserVerification != "preferred" || creation.Attestation != "none" || len(creation.Challenge) < 22 {
		t.Fatalf("creation options %s", options)
	}

	authr := webauthntest.New()
	cred, err := authr.Create(string(options), testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.FinishPasskeyRegistration(ctx, ann.userID, id, cred, "  Laptop ")
	if err != nil {
		t.Fatal(err)
	}
	held := authr.Credentials()[0]
	if p.Name != "Laptop" || string(p.CredentialID) != string(held.ID) || string(p.AAGUID) != string(authr.AAGUID[:]) ||
		strings.Join(p.Transports, ",") != "internal,hybrid" || p.SignCount != 0 || !p.CreatedAt.Equal(e.clock()) || p.AttestationFormat != "none" {
		t.Fatalf("passkey %+v", p)
	}
	list, err := e.svc.ListPasskeys(ctx, ann.userID)
	if err != nil || len(list) != 1 || list[0].ID != p.ID || !list[0].LastUsedAt.IsZero() || len(list[0].PublicKey) == 0 {
		t.Fatalf("list %+v, %v", list, err)
	}

	// Sign in: the request options name no credential (usernameless).
	loginID, loginOptions, err := e.svc.BeginPasskeyLogin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var request map[string]any
	if err := json.Unmarshal(loginOptions, &request); err != nil {
		t.Fatal(err)
	}
	if request["rpId"] != testRPID || request["allowCredentials"] != nil || request["userVerification"] != "preferred" {
		t.Fatalf("request options %s", loginOptions)
	}
	assertion, err := authr.Get(string(loginOptions), testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	device := auth.Client{UserAgent: "Parley-Test/1.0 (passkey)", Network: "203.0.113.9"}
	userID, tokens, err := e.svc.FinishPasskeyLogin(auth.WithClient(ctx, device), loginID, assertion)
	if err != nil {
		t.Fatal(err)
	}
	if userID != ann.userID || tokens.AccessToken == "" || tokens.RefreshToken == "" {
		t.Fatalf("signed in as %s with %+v", userID, tokens)
	}
	verifier := authn.NewVerifier(authn.StaticKeys{Set: e.tokens.PublicKeys()}, "parley", "parley")
	principal, err := verifier.Verify(ctx, tokens.AccessToken)
	if err != nil || principal.UserID != ann.userID || principal.SessionID == "" {
		t.Fatalf("access token %+v, %v", principal, err)
	}
	if _, _, err := e.svc.RefreshToken(ctx, tokens.RefreshToken); err != nil {
		t.Fatalf("refresh the passkey session: %v", err)
	}
	sessions, err := e.svc.ListSessions(ctx, ann.userID, "")
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, s := range sessions {
		if s.Method == auth.MethodPasskey {
			found = s.UserAgent == device.UserAgent && s.ClientNetwork == "203.0.113.0/24"
		}
	}
	if !found {
		t.Fatalf("no passkey session with the device in %+v", sessions)
	}
	list, _ = e.svc.ListPasskeys(ctx, ann.userID)
	if list[0].SignCount != 1 || !list[0].LastUsedAt.Equal(e.clock()) {
		t.Fatalf("after sign-in %+v", list[0])
	}

	// A second sign-in: the counter goes on.
	if _, _, err := e.passkeySignIn(t, authr, testOrigin, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if list, _ = e.svc.ListPasskeys(ctx, ann.userID); list[0].SignCount != 2 {
		t.Fatalf("counter %d, want 2", list[0].SignCount)
	}
}

// TestPasskeyWrongOriginRefused: clientDataJSON from an origin not configured is refused at
// registration and at sign-in, and uses the ceremony up.
func TestPasskeyWrongOriginRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	bob := e.register(t, "bob@example.com", "plum tree 42", auth.Client{})
	authr := webauthntest.New()

	id, options, err := e.svc.BeginPasskeyRegistration(ctx, bob.userID)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := authr.Create(string(options), "https://evil.example")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.FinishPasskeyRegistration(ctx, bob.userID, id, cred, "Laptop")
	wantDomainErr(t, err, domainerr.ErrInvalidArgument, "credential_json: the passkey was not accepted: Error validating origin")
	if list, _ := e.svc.ListPasskeys(ctx, bob.userID); len(list) != 0 {
		t.Fatalf("stored %+v", list)
	}

	e.addPasskey(t, bob.userID, authr, "Laptop")
	_, _, err = e.passkeySignIn(t, authr, "https://evil.example", auth.Client{})
	wantDomainErr(t, err, domainerr.ErrUnauthenticated, "the passkey was not accepted: Error validating origin")
	if _, _, err := e.passkeySignIn(t, authr, testOrigin, auth.Client{}); err != nil {
		t.Fatalf("the right origin: %v", err)
	}
}

// TestPasskeyReplayRefused: a ceremony answers once; a response to another ceremony's challenge
// is refused; an expired ceremony is refused; a registration ceremony is only its user's.
func TestPasskeyReplayRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cat := e.register(t, "cat@example.com", "plum tree 42", auth.Client{})
	dan := e.register(t, "dan@example.com", "plum tree 42", auth.Client{})
	authr := webauthntest.New()
	e.addPasskey(t, cat.userID, authr, "Phone")

	id, options, err := e.svc.BeginPasskeyLogin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	assertion, err := authr.Get(string(options), testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.FinishPasskeyLogin(ctx, id, assertion); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.svc.FinishPasskeyLogin(ctx, id, assertion)
	wantDomainErr(t, err, domainerr.ErrFailedPrecondition, "ceremony_id: unknown, used or expired; start again with BeginPasskeyLogin")

	// The same signed response replayed into a fresh ceremony: its challenge is not this one's.
	other, _, err := e.svc.BeginPasskeyLogin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = e.svc.FinishPasskeyLogin(ctx, other, assertion)
	wantDomainErr(t, err, domainerr.ErrUnauthenticated, "Error validating challenge")

	// Expired.
	id, options, _ = e.svc.BeginPasskeyLogin(ctx)
	assertion, _ = authr.Get(string(options), testOrigin)
	e.advance(5*time.Minute + time.Second)
	_, _, err = e.svc.FinishPasskeyLogin(ctx, id, assertion)
	wantDomainErr(t, err, domainerr.ErrFailedPrecondition, "ceremony_id: unknown, used or expired")

	// A registration ceremony is its user's, and not a sign-in's.
	id, options, _ = e.svc.BeginPasskeyRegistration(ctx, cat.userID)
	cred, err := webauthntest.New().Create(string(options), testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = e.svc.FinishPasskeyLogin(ctx, id, cred)
	wantDomainErr(t, err, domainerr.ErrFailedPrecondition, "ceremony_id: unknown")
	_, err = e.svc.FinishPasskeyRegistration(ctx, dan.userID, id, cred, "Stolen")
	wantDomainErr(t, err, domainerr.ErrFailedPrecondition, "start again with BeginPasskeyRegistration")
	_, err = e.svc.FinishPasskeyRegistration(ctx, cat.userID, id, cred, "Key")
	wantDomainErr(t, err, domainerr.ErrFailedPrecondition, "ceremony_id: unknown, used or expired") // used up by dan's try
}

// TestPasskeySignCounterRegressionRefused: an assertion whose counter is not above the stored one
// (a cloned authenticator) is refused and changes nothing; the genuine authenticator still works.
func TestPasskeySignCounterRegressionRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	eve := e.register(t, "eve@example.com", "plum tree 42", auth.Client{})
	authr := webauthntest.New()
	p := e.addPasskey(t, eve.userID, authr, "Key")
	for range 3 {
		if _, _, err := e.passkeySignIn(t, authr, testOrigin, auth.Client{}); err != nil {
			t.Fatal(err)
		}
	}
	held := authr.Credentials()[0]
	held.SignCount = 1 // the clone signs with 2, the stored counter is 3
	_, _, err := e.passkeySignIn(t, authr, testOrigin, auth.Client{})
	wantDomainErr(t, err, domainerr.ErrUnauthenticated, "signature counter went backwards, so the authenticator may have been cloned")
	held.SignCount = 2 // equal (3) is no increase either
	_, _, err = e.passkeySignIn(t, authr, testOrigin, auth.Client{})
	wantDomainErr(t, err, domainerr.ErrUnauthenticated, "may have been cloned")
	if list, _ := e.svc.ListPasskeys(ctx, eve.userID); list[0].SignCount != 3 {
		t.Fatalf("stored counter %d, want 3", list[0].SignCount)
	}
	if _, _, err := e.passkeySignIn(t, authr, testOrigin, auth.Client{}); err != nil { // signs with 4
		t.Fatalf("after the refusals: %v", err)
	}

	// Two sign-ins racing with one counter value: the store lets one through.
	use := auth.PasskeyUse{PasskeyID: p.ID, SignCount: 9, At: e.clock()}
	first, err := e.store.UsePasskey(ctx, use)
	if err != nil || !first {
		t.Fatalf("first use %v, %v", first, err)
	}
	if second, err := e.store.UsePasskey(ctx, use); err != nil || second {
		t.Fatalf("second use with the same counter %v, %v", second, err)
	}
}

// TestPasskeyRemove: a removed passkey lists no more and signs in no more; removing is the
// owner's only.
func TestPasskeyRemove(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	fay := e.register(t, "fay@example.com", "plum tree 42", auth.Client{})
	gus := e.register(t, "gus@example.com", "plum tree 42", auth.Client{})
	authr := webauthntest.New()
	p := e.addPasskey(t, fay.userID, authr, "Laptop")

	wantDomainErr(t, e.svc.DeletePasskey(ctx, gus.userID, p.ID), domainerr.ErrNotFound, "passkey_id: you have no such passkey")
	wantDomainErr(t, e.svc.DeletePasskey(ctx, fay.userID, "nope"), domainerr.ErrInvalidArgument, "passkey_id")
	if err := e.svc.DeletePasskey(ctx, fay.userID, p.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := e.svc.ListPasskeys(ctx, fay.userID); len(list) != 0 {
		t.Fatalf("after removal %+v", list)
	}
	wantDomainErr(t, e.svc.DeletePasskey(ctx, fay.userID, p.ID), domainerr.ErrNotFound, "no such passkey")
	_, _, err := e.passkeySignIn(t, authr, testOrigin, auth.Client{})
	wantDomainErr(t, err, domainerr.ErrUnauthenticated, "this passkey is not registered here")
}

// TestPasskeyRegistrationChecks: the name is checked, an authenticator is not registered twice
// (the options exclude the account's passkeys, and the store refuses a known credential id), and
// a response that is not one is InvalidArgument.
func TestPasskeyRegistrationChecks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	hal := e.register(t, "hal@example.com", "plum tree 42", auth.Client{})
	authr := webauthntest.New()

	id, options, _ := e.svc.BeginPasskeyRegistration(ctx, hal.userID)
	cred, _ := authr.Create(string(options), testOrigin)
	_, err := e.svc.FinishPasskeyRegistration(ctx, hal.userID, id, cred, " ")
	wantDomainErr(t, err, domainerr.ErrInvalidArgument, "name: required")
	_, err = e.svc.FinishPasskeyRegistration(ctx, hal.userID, "", "", strings.Repeat("x", 65))
	wantDomainErr(t, err, domainerr.ErrInvalidArgument, "ceremony_id: required")
	for _, field := range []string{"credential_json: required", "name: at most 64 characters"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("%v lacks %q", err, field)
		}
	}
	id, _, _ = e.svc.BeginPasskeyRegistration(ctx, hal.userID)
	_, err = e.svc.FinishPasskeyRegistration(ctx, hal.userID, id, `{"id":"x"}`, "Key")
	wantDomainErr(t, err, domainerr.ErrInvalidArgument, "credential_json: not a passkey registration response")

	p := e.addPasskey(t, hal.userID, authr, "Laptop")
	_, options, _ = e.svc.BeginPasskeyRegistration(ctx, hal.userID)
	if _, err := authr.Create(string(options), testOrigin); err == nil || !strings.Contains(err.Error(), "excluded") {
		t.Fatalf("the authenticator registered twice: %v", err)
	}
	dup := p
	dup.ID = "01900000-0000-7000-8000-000000000001"
	wantDomainErr(t, e.store.AddPasskey(ctx, dup), domainerr.ErrAlreadyExists, "already registered")
}

// TestPasskeysOff: without origins configured, the ceremonies say so.
func TestPasskeysOff(t *testing.T) {
	e := newEnv(t)
	hasher, err := auth.NewPasswordHasher(auth.MinArgon2Params, 1, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.NewService(auth.Deps{Store: e.store, Hasher: hasher, Tokens: e.tokens, RefreshTokenTTL: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = svc.BeginPasskeyLogin(context.Background())
	wantDomainErr(t, err, domainerr.ErrFailedPrecondition, "passkeys are not configured on this server")
}

package e2e

import (
	"context"
	"testing"

	"connectrpc.com/connect"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/platform/webauthntest"
)

// testPasskeys: through the gateway, a person adds a passkey (a software authenticator with a
// real key pair and signatures, on the gateway's origin, as a browser on the dev stack would),
// signs in with it without naming the account, sees it listed, removes it, and can no longer
// sign in with it.
func testPasskeys(t *testing.T) {
	c := newClients()
	ctx := context.Background()
	me := signUp(t, c, "passkeys")
	authr := webauthntest.New()

	begin, err := c.auth.BeginPasskeyRegistration(ctx, withToken(&authv1.BeginPasskeyRegistrationRequest{}, me.token))
	if err != nil {
		t.Fatal(err)
	}
	cred, err := authr.Create(begin.Msg.GetOptionsJson(), gatewayURL)
	if err != nil {
		t.Fatal(err)
	}
	added, err := c.auth.FinishPasskeyRegistration(ctx, withToken(&authv1.FinishPasskeyRegistrationRequest{
		CeremonyId: begin.Msg.GetCeremonyId(), CredentialJson: cred, Name: "E2E laptop"}, me.token))
	if err != nil {
		t.Fatal(err)
	}

	signIn := func() (*authv1.FinishPasskeyLoginResponse, error) {
		t.Helper()
		b, err := c.auth.BeginPasskeyLogin(ctx, connect.NewRequest(&authv1.BeginPasskeyLoginRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		assertion, err := authr.Get(b.Msg.GetOptionsJson(), gatewayURL)
		if err != nil {
			t.Fatal(err)
		}
		req := connect.NewRequest(&authv1.FinishPasskeyLoginRequest{CeremonyId: b.Msg.GetCeremonyId(), CredentialJson: assertion})
		req.Header().Set("User-Agent", "ParleyE2E/1.0 (passkey)")
		res, err := c.auth.FinishPasskeyLogin(ctx, req)
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}
	login, err := signIn()
	if err != nil {
		t.Fatalf("passkey sign-in: %v", err)
	}
	if login.GetUserId() != me.id {
		t.Fatalf("signed in as %s, want %s", login.GetUserId(), me.id)
	}
	token := login.GetTokens().GetAccessToken()
	if _, err := c.auth.GetMe(ctx, withToken(&authv1.GetMeRequest{}, token)); err != nil {
		t.Fatalf("the passkey session's token: %v", err)
	}
	sessions, err := c.auth.ListSessions(ctx, withToken(&authv1.ListSessionsRequest{}, token))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range sessions.Msg.GetSessions() {
		found = found || (s.GetCurrent() && s.GetMethod() == "passkey" && s.GetUserAgent() == "ParleyE2E/1.0 (passkey)")
	}
	if !found {
		t.Fatalf("no current passkey session in %v", sessions.Msg.GetSessions())
	}

	list, err := c.auth.ListPasskeys(ctx, withToken(&authv1.ListPasskeysRequest{}, token))
	if err != nil {
		t.Fatal(err)
	}
	if ps := list.Msg.GetPasskeys(); len(ps) != 1 || ps[0].GetPasskeyId() != added.Msg.GetPasskey().GetPasskeyId() ||
		ps[0].GetName() != "E2E laptop" || ps[0].GetLastUsedAt() == nil {
		t.Fatalf("passkeys %v", ps)
	}
	if _, err := c.auth.DeletePasskey(ctx, withToken(&authv1.DeletePasskeyRequest{PasskeyId: added.Msg.GetPasskey().GetPasskeyId()}, me.token)); err != nil {
		t.Fatal(err)
	}
	_, err = signIn()
	wantCode(t, err, connect.CodeUnauthenticated)
	list, err = c.auth.ListPasskeys(ctx, withToken(&authv1.ListPasskeysRequest{}, me.token))
	if err != nil || len(list.Msg.GetPasskeys()) != 0 {
		t.Fatalf("after removal %v, %v", list, err)
	}
}

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"connectrpc.com/connect"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
)

// testSessions: a person signed in on two devices sees both, marked by which is which; changing
// the password from one ends the other — its socket closes with 4003 and the gateway refuses its
// access token — and signing out "everywhere else" and by id does the same.
func testSessions(t *testing.T) {
	c := newClients()
	ctx := context.Background()
	laptop := signUp(t, c, "sessions")
	login := func(password, agent string) *authv1.LoginResponse {
		t.Helper()
		req := connect.NewRequest(&authv1.LoginRequest{Email: laptop.email, Password: password})
		req.Header().Set("User-Agent", agent)
		res, err := c.auth.Login(ctx, req)
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		return res.Msg
	}
	phone := login("correct horse battery staple", "ParleyE2E/1.0 (phone)")
	phoneWS := connectWS(t, gatewayURL, phone.GetTokens().GetAccessToken(), false)

	list, err := c.auth.ListSessions(ctx, withToken(&authv1.ListSessionsRequest{}, laptop.token))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(list.Msg.GetSessions()); n != 2 {
		t.Fatalf("%d sessions, want 2: %v", n, list.Msg.GetSessions())
	}
	for _, s := range list.Msg.GetSessions() {
		isPhone := s.GetUserAgent() == "ParleyE2E/1.0 (phone)"
		if s.GetCurrent() == isPhone || s.GetClientNetwork() != "127.0.0.0/24" {
			t.Fatalf("session %v: current must mark the laptop's; the network is the loopback /24", s)
		}
	}

	// Changing the password from the laptop ends the phone's session.
	_, err = c.auth.ChangePassword(ctx, withToken(&authv1.ChangePasswordRequest{CurrentPassword: "wrong", NewPassword: "a new and longer secret"}, laptop.token))
	wantCode(t, err, connect.CodeInvalidArgument)
	changed, err := c.auth.ChangePassword(ctx, withToken(&authv1.ChangePasswordRequest{CurrentPassword: "correct horse battery staple", NewPassword: "a new and longer secret"}, laptop.token))
	if err != nil || changed.Msg.GetRevokedSessions() != 1 {
		t.Fatalf("ChangePassword = %v, %v", changed, err)
	}
	phoneWS.expectClose(t, 4003)
	_, err = c.auth.GetMe(ctx, withToken(&authv1.GetMeRequest{}, phone.GetTokens().GetAccessToken()))
	wantCode(t, err, connect.CodeUnauthenticated)
	if _, err := c.auth.GetMe(ctx, withToken(&authv1.GetMeRequest{}, laptop.token)); err != nil {
		t.Fatalf("the laptop's session must survive its own password change: %v", err)
	}
	_, err = c.auth.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: laptop.email, Password: "correct horse battery staple"}))
	wantCode(t, err, connect.CodeUnauthenticated)
	// The owner is told by email (a security notice from the notification service).
	notice := eventually(t, "the password-changed email", func() (mailpitMessage, error) {
		mails, err := mailTo(laptop.email)
		if err != nil {
			return mailpitMessage{}, err
		}
		for _, m := range mails {
			if m.Subject == "Your Parley password was changed" {
				return m, nil
			}
		}
		return mailpitMessage{}, fmt.Errorf("none among %d emails", len(mails))
	})
	if !strings.Contains(notice.Snippet, "password of your Parley account was changed") {
		t.Fatalf("password-changed email snippet %q", notice.Snippet)
	}

	// Two new sessions: one ended by id, the other by "everywhere else".
	tablet := login("a new and longer secret", "ParleyE2E/1.0 (tablet)")
	desktop := login("a new and longer secret", "ParleyE2E/1.0 (desktop)")
	tabletWS := connectWS(t, gatewayURL, tablet.GetTokens().GetAccessToken(), false)
	desktopWS := connectWS(t, gatewayURL, desktop.GetTokens().GetAccessToken(), false)
	list, err = c.auth.ListSessions(ctx, withToken(&authv1.ListSessionsRequest{}, laptop.token))
	if err != nil {
		t.Fatal(err)
	}
	var tabletID string
	for _, s := range list.Msg.GetSessions() {
		if s.GetUserAgent() == "ParleyE2E/1.0 (tablet)" {
			tabletID = s.GetSessionId()
		}
	}
	if _, err := c.auth.RevokeSession(ctx, withToken(&authv1.RevokeSessionRequest{SessionId: tabletID}, laptop.token)); err != nil {
		t.Fatal(err)
	}
	tabletWS.expectClose(t, 4003)
	others, err := c.auth.RevokeOtherSessions(ctx, withToken(&authv1.RevokeOtherSessionsRequest{}, laptop.token))
	if err != nil || others.Msg.GetRevokedSessions() != 1 {
		t.Fatalf("RevokeOtherSessions = %v, %v; want the desktop's", others, err)
	}
	desktopWS.expectClose(t, 4003)
	list, err = c.auth.ListSessions(ctx, withToken(&authv1.ListSessionsRequest{}, laptop.token))
	if err != nil || len(list.Msg.GetSessions()) != 1 || !list.Msg.GetSessions()[0].GetCurrent() {
		t.Fatalf("sessions left: %v, %v; want only the laptop's", list, err)
	}
}

// testPasswordReset: "forgot password" through the gateway — an email with a link whose token sits
// in the fragment, one use, every session ended; an unknown email gets the very same answer.
func testPasswordReset(t *testing.T) {
	c := newClients()
	ctx := context.Background()
	p := signUp(t, c, "forgetful")
	phoneWS := connectWS(t, gatewayURL, p.token, false)

	status, body := call(t, "parley.auth.v1.AuthService/RequestPasswordReset", "", map[string]any{"email": strings.ToUpper(p.email)})
	unknownStatus, unknownBody := call(t, "parley.auth.v1.AuthService/RequestPasswordReset", "", map[string]any{"email": "no-one-" + p.email})
	if status != 200 || unknownStatus != 200 || fmt.Sprint(body) != fmt.Sprint(unknownBody) {
		t.Fatalf("known email: %d %v; unknown: %d %v; want the same answer", status, body, unknownStatus, unknownBody)
	}

	token := emailedToken(t, p.email, "Reset your Parley password", "/reset-password#token=")

	if _, err := c.auth.ResetPassword(ctx, connect.NewRequest(&authv1.ResetPasswordRequest{ResetToken: token, NewPassword: "fresh start 2026"})); err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}
	phoneWS.expectClose(t, 4003)
	_, err := c.auth.GetMe(ctx, withToken(&authv1.GetMeRequest{}, p.token))
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = c.auth.ResetPassword(ctx, connect.NewRequest(&authv1.ResetPasswordRequest{ResetToken: token, NewPassword: "another start 2027"}))
	wantCode(t, err, connect.CodeUnauthenticated)
	if _, err := c.auth.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: p.email, Password: "fresh start 2026"})); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	eventually(t, "the password-changed email", func() (bool, error) {
		mails, err := mailTo(p.email)
		if err != nil {
			return false, err
		}
		for _, m := range mails {
			if m.Subject == "Your Parley password was changed" {
				return true, nil
			}
		}
		return false, fmt.Errorf("none among %d emails", len(mails))
	})
}

// emailedToken waits for the email to address with subject and returns the token of its link
// (what follows linkPrefix, e.g. "/verify-email#token=").
func emailedToken(t *testing.T, address, subject, linkPrefix string) string {
	t.Helper()
	mail := eventually(t, subject, func() (mailpitMessage, error) {
		mails, err := mailTo(address)
		if err != nil {
			return mailpitMessage{}, err
		}
		for _, m := range mails {
			if m.Subject == subject {
				return m, nil
			}
		}
		return mailpitMessage{}, fmt.Errorf("none among %d emails", len(mails))
	})
	text := mailText(t, mail.ID)
	_, after, ok := strings.Cut(text, linkPrefix)
	if !ok {
		t.Fatalf("no %s link in %q:\n%s", linkPrefix, subject, text)
	}
	return strings.Fields(after)[0]
}

// mailText is the plain-text part of the mail catcher's message id.
func mailText(t *testing.T, id string) string {
	t.Helper()
	res, err := http.Get(stk.MailpitURL() + "/api/v1/message/" + url.PathEscape(id))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m struct{ Text string }
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m.Text
}

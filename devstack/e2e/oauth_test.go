package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"golang.org/x/net/html"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	profilev1 "github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1"
	"github.com/parleyhq/parley/devstack/stack"
)

// testOAuthDevLogin signs in with "Dev", the development OpenID Connect provider the dev stack
// runs, the way the web client and a browser do: the client asks the gateway for the providers and
// an authorization URL, the browser fills in the provider's page and is sent back to the web
// client's callback, whose code and state the client hands to CompleteOAuth.
func testOAuthDevLogin(t *testing.T) {
	ctx := context.Background()
	c := newClients()

	list, err := c.auth.ListOAuthProviders(ctx, connect.NewRequest(&authv1.ListOAuthProvidersRequest{}))
	if err != nil {
		t.Fatalf("list providers: %v", err)
	}
	found := false
	for _, p := range list.Msg.GetProviders() {
		found = found || (p.GetId() == "dev" && p.GetDisplayName() == "Dev")
	}
	if !found {
		t.Fatalf("providers = %v; want dev (Dev)", list.Msg.GetProviders())
	}

	// The web client's callback is the only kind of place a code may go.
	callback := gatewayURL + "/oauth/callback"
	_, err = c.auth.BeginOAuth(ctx, connect.NewRequest(&authv1.BeginOAuthRequest{ProviderId: "dev", RedirectUri: "https://elsewhere.example/oauth/callback"}))
	wantCode(t, err, connect.CodeInvalidArgument)

	// First sign-in: a new account, with the nickname asked for.
	nick := uniqueName("olive")
	email := nick + "@parley.local" // new to this stack: the suite's scenarios share it
	first, state := devSignIn(t, c, callback, "  "+strings.ToUpper(email)+" ", "Olive Dev", nick)
	if !first.GetCreated() || first.GetUserId() == "" {
		t.Fatalf("first sign-in: created=%v user %q; want a new account", first.GetCreated(), first.GetUserId())
	}
	token := first.GetTokens().GetAccessToken()
	me, err := c.auth.GetMe(ctx, withToken(&authv1.GetMeRequest{}, token))
	if err != nil {
		t.Fatalf("get me with the OAuth session's token: %v", err)
	}
	if me.Msg.GetAccount().GetUserId() != first.GetUserId() || me.Msg.GetAccount().GetEmail() != email {
		t.Fatalf("account = %v; want user %s with the verified email %s", me.Msg.GetAccount(), first.GetUserId(), email)
	}
	own := eventually(t, "the OAuth account's profile", func() (*profilev1.GetProfileResponse, error) {
		return msgOf(c.profile.GetProfile(ctx, withToken(&profilev1.GetProfileRequest{}, token)))
	}).GetProfile()
	if own.GetUserId() != first.GetUserId() || own.GetNickname() != nick {
		t.Fatalf("profile = %v; want user %s, nickname %s", own, first.GetUserId(), nick)
	}

	// A state works once.
	_, err = c.auth.CompleteOAuth(ctx, connect.NewRequest(&authv1.CompleteOAuthRequest{State: state, Code: "whatever"}))
	wantCode(t, err, connect.CodeFailedPrecondition)

	// Second sign-in with the same email: the same person, signed in, no new account.
	second, _ := devSignIn(t, c, callback, email, "Olive Dev", "")
	if second.GetCreated() || second.GetUserId() != first.GetUserId() {
		t.Fatalf("second sign-in: created=%v user %q; want the existing user %s", second.GetCreated(), second.GetUserId(), first.GetUserId())
	}
	me, err = c.auth.GetMe(ctx, withToken(&authv1.GetMeRequest{}, second.GetTokens().GetAccessToken()))
	if err != nil || me.Msg.GetAccount().GetUserId() != first.GetUserId() {
		t.Fatalf("get me after the second sign-in: %v %v", me, err)
	}
	if second.GetTokens().GetRefreshToken() == first.GetTokens().GetRefreshToken() {
		t.Fatal("the second sign-in reused the first session's refresh token")
	}

	// Under `npm run dev` the app's callback is on the Vite dev server's origin: the dev stack
	// accepts it too, under either name, so no tracked file needs editing.
	for _, host := range []string{"localhost", "127.0.0.1"} {
		viaVite, _ := devSignIn(t, c, fmt.Sprintf("http://%s:%d/oauth/callback", host, stack.WebDevPort), email, "Olive Dev", "")
		if viaVite.GetUserId() != first.GetUserId() {
			t.Fatalf("sign-in through the dev server's callback on %s: user %q; want %s", host, viaVite.GetUserId(), first.GetUserId())
		}
	}
}

// noFollow is the browser, stopped at each redirect so the test sees where it leads: the redirect
// to the callback must not be followed (the web client handles it; the gateway has no page there).
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// devSignIn runs one "sign in with Dev": BeginOAuth, the provider's page filled in with email and
// name, the redirect to callback, CompleteOAuth. It returns the result and the flow's state.
func devSignIn(t *testing.T, c clients, callback, email, name, nickname string) (*authv1.CompleteOAuthResponse, string) {
	t.Helper()
	ctx := context.Background()
	begun, err := c.auth.BeginOAuth(ctx, connect.NewRequest(&authv1.BeginOAuthRequest{ProviderId: "dev", RedirectUri: callback}))
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	authURL := begun.Msg.GetAuthorizationUrl()
	if !strings.HasPrefix(authURL, stk.DevOIDCURL()+"/authorize?") {
		t.Fatalf("authorization URL %s is not the dev provider's (%s)", authURL, stk.DevOIDCURL())
	}

	// The browser opens the provider's page...
	res, err := noFollow.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("the provider's page: %s\n%s", res.Status, page)
	}
	action, fields := signInForm(t, string(page))
	fields.Set("email", email)
	fields.Set("name", name)
	fields.Set("action", "approve") // the "Sign in" button
	base, _ := url.Parse(authURL)
	target, err := base.Parse(action)
	if err != nil {
		t.Fatal(err)
	}

	// ...submits it, and is sent back to the web client's callback with code and state.
	res, err = noFollow.PostForm(target.String(), fields)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || err != nil {
		t.Fatalf("submitting the provider's form: %s, Location %q\n%s", res.Status, res.Header.Get("Location"), body)
	}
	q := loc.Query()
	if at := loc.Scheme + "://" + loc.Host + loc.Path; at != callback || q.Get("code") == "" || q.Get("state") != begun.Msg.GetState() {
		t.Fatalf("the provider redirected to %s; want %s with a code and state %s", loc, callback, begun.Msg.GetState())
	}

	done, err := c.auth.CompleteOAuth(ctx, connect.NewRequest(&authv1.CompleteOAuthRequest{State: q.Get("state"), Code: q.Get("code"), Nickname: nickname}))
	if err != nil {
		t.Fatalf("complete: %v", err)
	}
	if done.Msg.GetTokens().GetAccessToken() == "" || done.Msg.GetTokens().GetRefreshToken() == "" {
		t.Fatalf("complete gave no tokens: %v", done.Msg)
	}
	return done.Msg, q.Get("state")
}

// signInForm finds the form on the provider's page: its action and its fields with their values
// (hidden ones included), as a browser would submit them.
func signInForm(t *testing.T, page string) (string, url.Values) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	attr := func(n *html.Node, key string) string {
		for _, a := range n.Attr {
			if a.Key == key {
				return a.Val
			}
		}
		return ""
	}
	action := ""
	fields := url.Values{}
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch n.Data {
		case "form":
			action = attr(n, "action")
		case "input":
			if name := attr(n, "name"); name != "" {
				fields.Set(name, attr(n, "value"))
			}
		}
	}
	if action == "" || !fields.Has("email") {
		t.Fatalf("no sign-in form on the provider's page:\n%s", page)
	}
	return action, fields
}

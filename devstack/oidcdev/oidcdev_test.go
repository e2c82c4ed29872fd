package oidcdev

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"
)

const (
	clientID     = "parley-dev"
	clientSecret = "s3cret:with/odd chars&"
	redirectURI  = "http://127.0.0.1:8080/oauth/callback"
)

type testProvider struct {
	*Provider
	url   string // the issuer
	clock *fakeClock
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// start serves a provider at issuer path pathPrefix ("" for the root) with the test client.
func start(t *testing.T, pathPrefix string, modify func(*Config)) *testProvider {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	clock := &fakeClock{t: time.Now()}
	cfg := Config{
		Issuer:  "http://" + srv.Listener.Addr().String() + pathPrefix,
		Clients: []Client{{ID: clientID, Secret: clientSecret}},
		Now:     clock.Now,
	}
	if modify != nil {
		modify(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = p
	srv.Start()
	t.Cleanup(srv.Close)
	return &testProvider{Provider: p, url: cfg.Issuer, clock: clock}
}

// noRedirects is a client that stops at the first redirect, as the test needs its Location.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// flow is one authorization request of a relying party.
type flow struct {
	state, nonce, verifier string
	authURL                string
}

func newFlow(issuer string, extra url.Values) flow {
	f := flow{state: randomToken(), nonce: randomToken(), verifier: randomToken()}
	sum := sha256.Sum256([]byte(f.verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {redirectURI},
		"scope":                 {"openid email profile"},
		"state":                 {f.state},
		"nonce":                 {f.nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	for k, v := range extra {
		q[k] = v
	}
	f.authURL = issuer + "/authorize?" + q.Encode()
	return f
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET %s: %s %s", u, res.Status, res.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// signIn plays the browser: it opens the authorization URL, fills the form in with email and name,
// presses the button and returns the redirect's query (code, state, iss or error).
func signIn(t *testing.T, authURL, email, name, button string) url.Values {
	t.Helper()
	res, err := http.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("authorize page: %s\n%s", res.Status, body)
	}
	action, fields := parseForm(t, string(body))
	if fields.Get("email") != DefaultEmail {
		t.Errorf("the page offers email %q, want %q", fields.Get("email"), DefaultEmail)
	}
	fields.Set("email", email)
	fields.Set("name", name)
	fields.Set("action", button)
	target, _ := url.Parse(authURL)
	formURL, err := target.Parse(action)
	if err != nil {
		t.Fatal(err)
	}
	res, err = noRedirects.PostForm(formURL.String(), fields)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("submitting the form: %s, want a redirect\n%s", res.Status, body)
	}
	return redirectQuery(t, res)
}

func redirectQuery(t *testing.T, res *http.Response) url.Values {
	t.Helper()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI {
		t.Fatalf("redirected to %s, want %s", loc, redirectURI)
	}
	return loc.Query()
}

// parseForm returns the sign-in form's action and its fields with their values.
func parseForm(t *testing.T, page string) (string, url.Values) {
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
	var action string
	fields := url.Values{}
	for n := range doc.Descendants() {
		switch {
		case n.Type == html.ElementNode && n.Data == "form":
			if attr(n, "method") != "post" {
				t.Fatalf("form method %q", attr(n, "method"))
			}
			action = attr(n, "action")
		case n.Type == html.ElementNode && n.Data == "input":
			fields.Set(attr(n, "name"), attr(n, "value"))
		}
	}
	if action == "" {
		t.Fatalf("no form on the page:\n%s", page)
	}
	return action, fields
}

type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	IDToken          string `json:"id_token"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// userinfo calls the userinfo endpoint with accessToken; the caller closes the body.
func userinfo(t *testing.T, issuer, accessToken string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, issuer+"/userinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// redeem posts to the token endpoint as the client, with client_secret_basic.
func redeem(t *testing.T, issuer, code, verifier string) (int, tokenResponse) {
	t.Helper()
	return postToken(t, issuer, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
		"code_verifier": {verifier}, "client_id": {clientID},
	}, func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret)) })
}

func postToken(t *testing.T, issuer string, form url.Values, auth func(*http.Request)) (int, tokenResponse) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, issuer+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != nil {
		auth(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tr tokenResponse
	if err := json.NewDecoder(res.Body).Decode(&tr); err != nil {
		t.Fatal(err)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("token response Cache-Control = %q", res.Header.Get("Cache-Control"))
	}
	return res.StatusCode, tr
}

// verifyIDToken checks the RS256 signature with the key the JWKS publishes (parsed here from the
// JSON, independently of the provider's code) and returns the claims.
func verifyIDToken(t *testing.T, issuer, token string) map[string]any {
	t.Helper()
	var set struct {
		Keys []struct {
			Kty, Use, Alg, Kid, N, E string
		} `json:"keys"`
	}
	getJSON(t, issuer+"/jwks", &set)
	if len(set.Keys) != 1 {
		t.Fatalf("JWKS has %d keys", len(set.Keys))
	}
	k := set.Keys[0]
	n, err1 := base64.RawURLEncoding.DecodeString(k.N)
	e, err2 := base64.RawURLEncoding.DecodeString(k.E)
	if err := errors.Join(err1, err2); err != nil || k.Kty != "RSA" || k.Alg != "RS256" || k.Use != "sig" {
		t.Fatalf("JWKS key %+v: %v", k, err)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}

	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("ID token %q is not a compact JWS", token)
	}
	var header struct{ Alg, Kid, Typ string }
	decodePart(t, parts[0], &header)
	if header.Alg != "RS256" || header.Kid != k.Kid {
		t.Fatalf("ID token header %+v; JWKS kid %s", header, k.Kid)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("ID token signature does not verify with the JWKS key: %v", err)
	}
	var claims map[string]any
	decodePart(t, parts[1], &claims)
	return claims
}

func decodePart(t *testing.T, part string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func TestDiscoveryPublishesTheEndpointsAndTheKey(t *testing.T) {
	for _, prefix := range []string{"", "/oidc"} {
		p := start(t, prefix, nil)
		var meta map[string]any
		getJSON(t, p.url+"/.well-known/openid-configuration", &meta)
		for k, want := range map[string]string{
			"issuer":                 p.url,
			"authorization_endpoint": p.url + "/authorize",
			"token_endpoint":         p.url + "/token",
			"jwks_uri":               p.url + "/jwks",
			"userinfo_endpoint":      p.url + "/userinfo",
		} {
			if meta[k] != want {
				t.Errorf("prefix %q: %s = %v, want %s", prefix, k, meta[k], want)
			}
		}
		for k, want := range map[string]string{
			"code_challenge_methods_supported":      "S256",
			"id_token_signing_alg_values_supported": "RS256",
			"response_types_supported":              "code",
			"token_endpoint_auth_methods_supported": "client_secret_basic",
		} {
			list, _ := meta[k].([]any)
			found := false
			for _, v := range list {
				found = found || v == want
			}
			if !found {
				t.Errorf("%s = %v, want it to list %s", k, meta[k], want)
			}
		}
		var set struct{ Keys []map[string]string }
		getJSON(t, meta["jwks_uri"].(string), &set)
		if len(set.Keys) != 1 || set.Keys[0]["kid"] != p.KeyID() || set.Keys[0]["d"] != "" {
			t.Errorf("JWKS = %v (kid %s); want the one public key", set.Keys, p.KeyID())
		}
		if res, err := http.Get(p.url + "/"); err != nil || res.StatusCode != http.StatusOK {
			t.Errorf("index page: %v %v", res, err)
		} else {
			res.Body.Close()
		}
	}
}

// TestSignInThroughTheFormGivesAVerifiableIDToken walks the code flow as a browser and a relying
// party do, and checks every claim a relying party needs.
func TestSignInThroughTheFormGivesAVerifiableIDToken(t *testing.T) {
	p := start(t, "", nil)
	f := newFlow(p.url, nil)
	got := signIn(t, f.authURL, "  Ann@Example.COM ", "Ann Example", "approve")
	if got.Get("state") != f.state || got.Get("iss") != p.url || got.Get("code") == "" {
		t.Fatalf("redirect query %v; want code, state %s, iss %s", got, f.state, p.url)
	}
	status, tok := redeem(t, p.url, got.Get("code"), f.verifier)
	if status != http.StatusOK || tok.TokenType != "Bearer" || tok.AccessToken == "" || tok.ExpiresIn != 3600 {
		t.Fatalf("token: %d %+v", status, tok)
	}
	claims := verifyIDToken(t, p.url, tok.IDToken)
	now := p.clock.Now().Unix()
	atHash := sha256.Sum256([]byte(tok.AccessToken))
	for k, want := range map[string]any{
		"iss":            p.url,
		"aud":            clientID,
		"sub":            Subject("ann@example.com"),
		"email":          "ann@example.com",
		"email_verified": true,
		"name":           "Ann Example",
		"nonce":          f.nonce,
		"iat":            float64(now),
		"exp":            float64(now + 3600),
		"at_hash":        base64.RawURLEncoding.EncodeToString(atHash[:16]),
	} {
		if claims[k] != want {
			t.Errorf("claim %s = %v (%T), want %v", k, claims[k], claims[k], want)
		}
	}

	// The access token works at the userinfo endpoint.
	res := userinfo(t, p.url, tok.AccessToken)
	var info map[string]any
	_ = json.NewDecoder(res.Body).Decode(&info)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || info["sub"] != claims["sub"] || info["email"] != "ann@example.com" || info["name"] != "Ann Example" {
		t.Errorf("userinfo: %s %v", res.Status, info)
	}

	// The same email is the same subject, whatever its case; another email is another one.
	f2 := newFlow(p.url, nil)
	_, tok2 := redeem(t, p.url, signIn(t, f2.authURL, "ann@example.com", "", "approve").Get("code"), f2.verifier)
	claims2 := verifyIDToken(t, p.url, tok2.IDToken)
	if claims2["sub"] != claims["sub"] {
		t.Errorf("second sign-in of the same email: sub %v, first %v", claims2["sub"], claims["sub"])
	}
	if _, ok := claims2["name"]; ok {
		t.Errorf("an empty name is sent as %v; want no name claim", claims2["name"])
	}
	if Subject("bob@example.com") == claims["sub"] {
		t.Error("two emails share a subject")
	}
}

func TestPKCEVerifierMustMatch(t *testing.T) {
	p := start(t, "", nil)
	for name, verifier := range map[string]func(flow) string{
		"missing":           func(flow) string { return "" },
		"another":           func(flow) string { return randomToken() },
		"the challenge":     func(f flow) string { u, _ := url.Parse(f.authURL); return u.Query().Get("code_challenge") },
		"the right one + x": func(f flow) string { return f.verifier + "x" },
	} {
		f := newFlow(p.url, nil)
		code := signIn(t, f.authURL, "ann@example.com", "Ann", "approve").Get("code")
		status, tok := redeem(t, p.url, code, verifier(f))
		if status != http.StatusBadRequest || tok.Error != "invalid_grant" || tok.IDToken != "" || tok.AccessToken != "" {
			t.Errorf("%s verifier: %d %+v; want 400 invalid_grant", name, status, tok)
		}
		if !strings.Contains(tok.ErrorDescription, "code_verifier") {
			t.Errorf("%s verifier: error %q does not name code_verifier", name, tok.ErrorDescription)
		}
		// The failed attempt spent the code: the right verifier comes too late.
		if status, tok := redeem(t, p.url, code, f.verifier); status != http.StatusBadRequest || tok.Error != "invalid_grant" {
			t.Errorf("right verifier after a wrong one: %d %+v", status, tok)
		}
	}
}

func TestCodeWorksOnceAndReuseRevokesItsTokens(t *testing.T) {
	p := start(t, "", nil)
	f := newFlow(p.url, nil)
	code := signIn(t, f.authURL, "ann@example.com", "Ann", "approve").Get("code")
	status, tok := redeem(t, p.url, code, f.verifier)
	if status != http.StatusOK {
		t.Fatalf("first redemption: %d %+v", status, tok)
	}
	status, again := redeem(t, p.url, code, f.verifier)
	if status != http.StatusBadRequest || again.Error != "invalid_grant" || !strings.Contains(again.ErrorDescription, "already used") {
		t.Fatalf("second redemption: %d %+v", status, again)
	}
	res := userinfo(t, p.url, tok.AccessToken)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("userinfo with a token of a replayed code: %s", res.Status)
	}
}

func TestCodesAndTokensExpire(t *testing.T) {
	p := start(t, "", func(c *Config) { c.CodeTTL = 30 * time.Second })
	f := newFlow(p.url, nil)
	code := signIn(t, f.authURL, "ann@example.com", "Ann", "approve").Get("code")
	p.clock.Advance(31 * time.Second)
	if status, tok := redeem(t, p.url, code, f.verifier); status != http.StatusBadRequest || tok.Error != "invalid_grant" {
		t.Errorf("expired code: %d %+v", status, tok)
	}

	f = newFlow(p.url, nil)
	_, tok := redeem(t, p.url, signIn(t, f.authURL, "ann@example.com", "Ann", "approve").Get("code"), f.verifier)
	p.clock.Advance(time.Hour)
	res := userinfo(t, p.url, tok.AccessToken)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("userinfo with an expired access token: %s", res.Status)
	}
}

func TestTokenEndpointChecksTheClientAndTheRedirectURI(t *testing.T) {
	p := start(t, "", func(c *Config) {
		c.Clients = append(c.Clients, Client{ID: "public-app"})
	})
	code := func() (string, string) {
		f := newFlow(p.url, nil)
		return signIn(t, f.authURL, "ann@example.com", "Ann", "approve").Get("code"), f.verifier
	}
	form := func(code, verifier string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}, "client_id": {clientID}}
	}
	basic := func(id, secret string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) }
	}

	c, v := code()
	if status, tok := postToken(t, p.url, form(c, v), nil); status != http.StatusUnauthorized || tok.Error != "invalid_client" {
		t.Errorf("no client secret: %d %+v", status, tok)
	}
	if status, tok := postToken(t, p.url, form(c, v), basic(clientID, "wrong")); status != http.StatusUnauthorized || tok.Error != "invalid_client" {
		t.Errorf("wrong client secret: %d %+v", status, tok)
	}
	both := form(c, v)
	both.Set("client_secret", clientSecret)
	if status, tok := postToken(t, p.url, both, basic(clientID, clientSecret)); status != http.StatusBadRequest || tok.Error != "invalid_request" {
		t.Errorf("Basic and client_secret at once: %d %+v", status, tok)
	}
	// Refused client authentication does not spend the code; client_secret_post works.
	post := form(c, v)
	post.Set("client_secret", clientSecret)
	if status, tok := postToken(t, p.url, post, nil); status != http.StatusOK || tok.IDToken == "" {
		t.Errorf("client_secret_post: %d %+v", status, tok)
	}

	c, v = code()
	wrongRedirect := form(c, v)
	wrongRedirect.Set("redirect_uri", "http://127.0.0.1:8080/elsewhere")
	if status, tok := postToken(t, p.url, wrongRedirect, basic(clientID, clientSecret)); status != http.StatusBadRequest || tok.Error != "invalid_grant" {
		t.Errorf("another redirect_uri: %d %+v", status, tok)
	}

	c, v = code()
	other := form(c, v)
	other.Set("client_id", "public-app")
	if status, tok := postToken(t, p.url, other, nil); status != http.StatusBadRequest || tok.Error != "invalid_grant" {
		t.Errorf("a code of another client: %d %+v", status, tok)
	}

	wrongGrant := form("x", "y")
	wrongGrant.Set("grant_type", "password")
	if status, tok := postToken(t, p.url, wrongGrant, basic(clientID, clientSecret)); status != http.StatusBadRequest || tok.Error != "unsupported_grant_type" {
		t.Errorf("grant_type password: %d %+v", status, tok)
	}
}

func TestAuthorizeRefusesBadRequests(t *testing.T) {
	p := start(t, "", func(c *Config) {
		c.Clients = append(c.Clients, Client{ID: "fixed", RedirectURIs: []string{"http://127.0.0.1:3000/cb"}})
	})
	// A bad client or redirect URI is shown on the page: the browser is not sent anywhere.
	for name, extra := range map[string]url.Values{
		"unknown client":         {"client_id": {"nobody"}},
		"no redirect URI":        {"redirect_uri": {""}},
		"redirect off-machine":   {"redirect_uri": {"https://evil.example/oauth/callback"}},
		"loopback look-alike":    {"redirect_uri": {"http://127.0.0.1.evil.example/cb"}},
		"not in the client list": {"client_id": {"fixed"}, "redirect_uri": {"http://127.0.0.1:3001/cb"}},
	} {
		res, err := noRedirects.Get(newFlow(p.url, extra).authURL)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" {
			t.Errorf("%s: %s, Location %q; want 400 and no redirect", name, res.Status, res.Header.Get("Location"))
		}
	}
	if res, err := noRedirects.Get(newFlow(p.url, url.Values{"client_id": {"fixed"}, "redirect_uri": {"http://127.0.0.1:3000/cb"}}).authURL); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("a listed redirect URI: %v %v", res, err)
	} else {
		res.Body.Close()
	}

	// Other mistakes go back to the client as OAuth errors, with its state.
	for name, tc := range map[string]struct {
		extra url.Values
		want  string
	}{
		"no PKCE":            {url.Values{"code_challenge": {""}}, "invalid_request"},
		"plain PKCE":         {url.Values{"code_challenge_method": {"plain"}}, "invalid_request"},
		"malformed PKCE":     {url.Values{"code_challenge": {"short"}}, "invalid_request"},
		"implicit flow":      {url.Values{"response_type": {"token"}}, "unsupported_response_type"},
		"no openid scope":    {url.Values{"scope": {"email"}}, "invalid_scope"},
		"auto-approve a bad": {url.Values{"dev_auto_approve": {"1"}, "login_hint": {"not an email"}}, "invalid_request"},
		"prompt=none":        {url.Values{"prompt": {"none"}}, "login_required"},
	} {
		f := newFlow(p.url, tc.extra)
		res, err := noRedirects.Get(f.authURL)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			t.Errorf("%s: %s, want a redirect with an error", name, res.Status)
			continue
		}
		if q := redirectQuery(t, res); q.Get("error") != tc.want || q.Get("state") != f.state || q.Get("code") != "" {
			t.Errorf("%s: redirect query %v, want error %s", name, q, tc.want)
		}
	}

	// Cancel says access_denied; a bad email shows the form again with the problem.
	f := newFlow(p.url, nil)
	if q := signIn(t, f.authURL, "ann@example.com", "Ann", "deny"); q.Get("error") != "access_denied" || q.Get("state") != f.state {
		t.Errorf("cancel: %v", q)
	}
	res, err := http.Get(f.authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	_, fields := parseForm(t, string(page))
	fields.Set("email", "Ann <ann@example.com>")
	fields.Set("action", "approve")
	res, err = noRedirects.PostForm(p.url+"/authorize", fields)
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(page), "plain email address") {
		t.Errorf("a display-name email: %s\n%s", res.Status, page)
	}
	if _, again := parseForm(t, string(page)); again.Get("state") != f.state {
		t.Errorf("the form shown again lost the request: %v", again)
	}
}

func TestAutoApproveSignsInTheLoginHint(t *testing.T) {
	p := start(t, "", nil)
	f := newFlow(p.url, url.Values{"dev_auto_approve": {"1"}, "login_hint": {"bob@example.com"}})
	res, err := noRedirects.Get(f.authURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("auto-approve: %s", res.Status)
	}
	q := redirectQuery(t, res)
	_, tok := redeem(t, p.url, q.Get("code"), f.verifier)
	claims := verifyIDToken(t, p.url, tok.IDToken)
	if claims["email"] != "bob@example.com" || claims["name"] != "bob" || claims["sub"] != Subject("bob@example.com") {
		t.Errorf("claims %v", claims)
	}
}

func TestSigningKeyIsKeptInItsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "oidc", "signing-key.pem")
	cfg := Config{Issuer: "http://127.0.0.1:9096", Clients: []Client{{ID: clientID}}, KeyFile: path}
	first, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	second, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if first.KeyID() != second.KeyID() {
		t.Errorf("a restart changed the key: %s, then %s", first.KeyID(), second.KeyID())
	}
	ephemeral, err := New(Config{Issuer: cfg.Issuer, Clients: cfg.Clients})
	if err != nil {
		t.Fatal(err)
	}
	if ephemeral.KeyID() == first.KeyID() {
		t.Error("a provider without a key file reused the file's key")
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a corrupt key file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "garbage" {
		t.Error("a corrupt key file was overwritten")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Issuer: "127.0.0.1:9096", Clients: []Client{{ID: "a"}}},
		{Issuer: "http://127.0.0.1:9096/", Clients: []Client{{ID: "a"}}},
		{Issuer: "http://127.0.0.1:9096"},
		{Issuer: "http://127.0.0.1:9096", Clients: []Client{{ID: "a"}, {ID: "a"}}},
		{Issuer: "http://127.0.0.1:9096", Clients: []Client{{}}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted it", cfg)
		}
	}
}

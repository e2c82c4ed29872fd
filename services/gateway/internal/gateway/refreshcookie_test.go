package gateway_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/services/gateway/internal/gateway"
)

var cookieMode = http.Header{gateway.RefreshCookieHeader: {"1"}}

// refreshCookies returns the Set-Cookie lines for the refresh cookie, by path.
func refreshCookies(t *testing.T, res *reply) map[string]*http.Cookie {
	t.Helper()
	out := map[string]*http.Cookie{}
	for _, line := range res.Header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("Set-Cookie %q: %v", line, err)
		}
		if c.Name == gateway.RefreshCookieName {
			out[c.Path] = c
		}
	}
	return out
}

const (
	refreshPath = "/api/parley.auth.v1.AuthService/RefreshToken"
	logoutPath  = "/api/parley.auth.v1.AuthService/Logout"
)

// insecureCookie is the dev stack's REFRESH_COOKIE_SECURE=false.
func insecureCookie(o *gateway.Options) { o.InsecureRefreshCookie = true }

// wantCookies checks the cookie is set (value) or removed ("") on exactly the refresh and logout
// paths, locked down.
func wantCookies(t *testing.T, res *reply, value string, secure bool) {
	t.Helper()
	got := refreshCookies(t, res)
	if len(got) != 2 || got[refreshPath] == nil || got[logoutPath] == nil {
		t.Fatalf("refresh cookies %v (Set-Cookie %q), want one on %s and one on %s", got, res.Header.Values("Set-Cookie"), refreshPath, logoutPath)
	}
	for path, c := range got {
		if c.Value != value || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure != secure {
			t.Errorf("cookie on %s = %q HttpOnly %v SameSite %v Secure %v; want %q, HttpOnly, Strict, Secure %v",
				path, c.Value, c.HttpOnly, c.SameSite, c.Secure, value, secure)
		}
		switch {
		case value == "" && c.MaxAge >= 0:
			t.Errorf("cookie on %s: Max-Age %d, want it removed", path, c.MaxAge)
		case value != "" && (c.MaxAge < 29*24*3600 || c.MaxAge > 30*24*3600):
			t.Errorf("cookie on %s: Max-Age %d, want the refresh token's 30 days", path, c.MaxAge)
		}
	}
}

type tokensJSON struct {
	UserID string `json:"userId"`
	Tokens *struct {
		AccessToken  string `json:"accessToken"`
		RefreshToken string `json:"refreshToken"`
		ExpiresAt    string `json:"refreshTokenExpiresAt"`
	} `json:"tokens"`
}

func decodeTokens(t *testing.T, body []byte) tokensJSON {
	t.Helper()
	var got tokensJSON
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	return got
}

// A browser signing in with the header gets the refresh token as a cookie only; refreshing and
// signing out with it need no token in the body, and the service never sees the cookie.
func TestRefreshCookieJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t, insecureCookie)
	res, body := postJSON(t, e.api+"/parley.auth.v1.AuthService/Login", `{"email":"ann@example.com","password":"secret"}`, cookieMode)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("Login = %d %s", res.StatusCode, body)
	}
	got := decodeTokens(t, body)
	if got.UserID != "user-of-ann@example.com" || got.Tokens == nil || got.Tokens.AccessToken != "access-for-refresh-1" ||
		got.Tokens.RefreshToken != "" || got.Tokens.ExpiresAt == "" || bytes.Contains(body, []byte(`"refresh-1"`)) {
		t.Fatalf("Login answer %s: want the access token and no refresh token", body)
	}
	wantCookies(t, res, "refresh-1", false) // REFRESH_COOKIE_SECURE=false: plain http

	cookie := http.Header{gateway.RefreshCookieHeader: {"1"}, "Cookie": {gateway.RefreshCookieName + "=refresh-1; other=x"}}
	res, body = postJSON(t, e.api+"/parley.auth.v1.AuthService/RefreshToken", `{}`, cookie)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("RefreshToken from the cookie = %d %s", res.StatusCode, body)
	}
	if got := decodeTokens(t, body); got.Tokens == nil || got.Tokens.AccessToken != "access-for-refresh-2" || got.Tokens.RefreshToken != "" {
		t.Fatalf("RefreshToken answer %s", body)
	}
	wantCookies(t, res, "refresh-2", false)
	if h := e.auth.last(t).header; h.Get("Cookie") != "" || h.Get(gateway.RefreshCookieHeader) != "" {
		t.Errorf("the service saw Cookie %q, %s %q", h.Get("Cookie"), gateway.RefreshCookieHeader, h.Get(gateway.RefreshCookieHeader))
	}

	// A token the service refuses (here: reused) removes the cookie.
	res, body = postJSON(t, e.api+"/parley.auth.v1.AuthService/RefreshToken", `{}`,
		http.Header{gateway.RefreshCookieHeader: {"1"}, "Cookie": {gateway.RefreshCookieName + "=refresh-2"}})
	wantConnectError(t, res, body, http.StatusUnauthorized, "unauthenticated")
	wantCookies(t, res, "", false)

	res, body = postJSON(t, e.api+"/parley.auth.v1.AuthService/Logout", `{}`,
		http.Header{gateway.RefreshCookieHeader: {"1"}, "Cookie": {gateway.RefreshCookieName + "=refresh-9"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("Logout from the cookie = %d %s", res.StatusCode, body)
	}
	wantCookies(t, res, "", false)
}

func TestRefreshCookieBinary(t *testing.T) {
	t.Parallel()
	e := newEnv(t, insecureCookie)
	call := func(path string, in proto.Message, header http.Header) (*reply, []byte) {
		b, err := proto.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.api+path, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header.Clone()
		req.Header.Set("Content-Type", "application/proto")
		req.Header.Set("Accept-Encoding", "gzip") // a browser's; the answer must still be rewritten
		return do(t, req)
	}
	res, body := call("/parley.auth.v1.AuthService/Login", &authv1.LoginRequest{Email: "bo@example.com", Password: "secret"}, cookieMode)
	var login authv1.LoginResponse
	if res.StatusCode != http.StatusOK || proto.Unmarshal(body, &login) != nil {
		t.Fatalf("Login = %d %q", res.StatusCode, body)
	}
	if login.GetTokens().GetAccessToken() != "access-for-refresh-1" || login.GetTokens().GetRefreshToken() != "" || login.GetUserId() != "user-of-bo@example.com" {
		t.Fatalf("Login answer %v", &login)
	}
	wantCookies(t, res, "refresh-1", false)

	// An empty message is an empty body; the cookie fills it.
	res, body = call("/parley.auth.v1.AuthService/RefreshToken", &authv1.RefreshTokenRequest{},
		http.Header{gateway.RefreshCookieHeader: {"1"}, "Cookie": {gateway.RefreshCookieName + "=refresh-1"}})
	var refreshed authv1.RefreshTokenResponse
	if res.StatusCode != http.StatusOK || proto.Unmarshal(body, &refreshed) != nil || refreshed.GetTokens().GetRefreshToken() != "" ||
		refreshed.GetTokens().GetAccessToken() != "access-for-refresh-2" {
		t.Fatalf("RefreshToken = %d %q", res.StatusCode, body)
	}
	wantCookies(t, res, "refresh-2", false)
}

// Without the header nothing changes: the token is in the body, and a cookie alone is never used
// (a cross-site form cannot add the header, and a cross-site script cannot send it: it is not an
// allowed CORS header).
func TestRefreshCookieOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res, body := postJSON(t, e.api+"/parley.auth.v1.AuthService/Login", `{"email":"cy@example.com","password":"secret"}`, nil)
	if got := decodeTokens(t, body); res.StatusCode != http.StatusOK || got.Tokens == nil || got.Tokens.RefreshToken != "refresh-1" {
		t.Fatalf("Login without the header = %d %s, want the refresh token in the body", res.StatusCode, body)
	}
	if len(refreshCookies(t, res)) != 0 {
		t.Fatalf("Set-Cookie without the header: %q", res.Header.Values("Set-Cookie"))
	}
	res, body = postJSON(t, e.api+"/parley.auth.v1.AuthService/RefreshToken", `{}`, http.Header{"Cookie": {gateway.RefreshCookieName + "=refresh-1"}})
	wantConnectError(t, res, body, http.StatusUnauthorized, "unauthenticated")
	if len(refreshCookies(t, res)) != 0 {
		t.Fatalf("Set-Cookie without the header: %q", res.Header.Values("Set-Cookie"))
	}

	// A form post carries the cookie but no header, and a type the service refuses.
	form, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.api+"/parley.auth.v1.AuthService/Logout", strings.NewReader("refresh_token="))
	if err != nil {
		t.Fatal(err)
	}
	form.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	form.Header.Set("Cookie", gateway.RefreshCookieName+"=refresh-1")
	if res, body := do(t, form); res.StatusCode == http.StatusOK || len(refreshCookies(t, res)) != 0 {
		t.Fatalf("a form post to Logout = %d %s", res.StatusCode, body)
	}

	preflight, err := http.NewRequestWithContext(t.Context(), http.MethodOptions, e.api+"/parley.auth.v1.AuthService/RefreshToken", nil)
	if err != nil {
		t.Fatal(err)
	}
	preflight.Header.Set("Origin", "http://localhost:8080")
	preflight.Header.Set("Access-Control-Request-Method", "POST")
	preflight.Header.Set("Access-Control-Request-Headers", "content-type,"+strings.ToLower(gateway.RefreshCookieHeader))
	res, _ = do(t, preflight)
	if allowed := strings.ToLower(res.Header.Get("Access-Control-Allow-Headers")); strings.Contains(allowed, strings.ToLower(gateway.RefreshCookieHeader)) {
		t.Fatalf("a cross-origin page may send %s: Access-Control-Allow-Headers %q", gateway.RefreshCookieHeader, allowed)
	}
}

func TestRefreshCookieDetails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The cookie is Secure unless configured off, whatever the Host: a TLS-terminating proxy may
	// forward plain http to the gateway with its upstream's Host, loopback included.
	res, body := postJSON(t, e.api+"/parley.auth.v1.AuthService/Login", `{"email":"di@example.com","password":"secret"}`, cookieMode)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("Login at 127.0.0.1 = %d %s", res.StatusCode, body)
	}
	wantCookies(t, res, "refresh-1", true)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.api+"/parley.auth.v1.AuthService/Login",
		strings.NewReader(`{"email":"di@example.com","password":"secret"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "parley.example.com"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(gateway.RefreshCookieHeader, "1")
	res, body = do(t, req)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("Login = %d %s", res.StatusCode, body)
	}
	wantCookies(t, res, "refresh-1", true)

	// A second factor pending: no session yet, nothing to move.
	res, body = postJSON(t, e.api+"/parley.auth.v1.AuthService/Login", `{"email":"two@example.com","password":"secret"}`, cookieMode)
	if res.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("secondFactor")) || len(refreshCookies(t, res)) != 0 {
		t.Fatalf("Login with a second factor = %d %s, cookies %q", res.StatusCode, body, res.Header.Values("Set-Cookie"))
	}

	// A token in the body wins over the cookie.
	res, body = postJSON(t, e.api+"/parley.auth.v1.AuthService/RefreshToken", `{"refreshToken":"refresh-1"}`,
		http.Header{gateway.RefreshCookieHeader: {"1"}, "Cookie": {gateway.RefreshCookieName + "=refresh-7"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("RefreshToken with a token in the body = %d %s", res.StatusCode, body)
	}

	// Asked for in a way the gateway cannot honour: refused, not ignored.
	for name, header := range map[string]http.Header{
		"gRPC-Web":   {"Content-Type": {"application/grpc-web+proto"}, gateway.RefreshCookieHeader: {"1"}},
		"compressed": {"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}, gateway.RefreshCookieHeader: {"1"}},
		"value":      {"Content-Type": {"application/json"}, gateway.RefreshCookieHeader: {"yes"}},
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.api+"/parley.auth.v1.AuthService/RefreshToken", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		res, body := do(t, req)
		if name != "gRPC-Web" {
			wantConnectError(t, res, body, http.StatusBadRequest, "invalid_argument")
		} else if res.Header.Get("Grpc-Status") != "3" {
			t.Errorf("gRPC-Web: grpc-status %q, want 3", res.Header.Get("Grpc-Status"))
		}
	}
}

package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"testing"
)

// testBrowserRefreshCookie signs up, refreshes and signs out as the web app does: refresh token in
// the gateway's httpOnly cookie (X-Parley-Refresh-Cookie: 1), never in a body, with a cookie jar
// standing in for the browser and a browser's Accept-Encoding (docs/auth.md, Browser clients).
func testBrowserRefreshCookie(t *testing.T) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar}
	post := func(procedure, token string, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, gatewayURL+"/api/parley.auth.v1.AuthService/"+procedure, bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
		req.Header.Set("X-Parley-Refresh-Cookie", "1")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := browser.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", procedure, err)
		}
		defer res.Body.Close()
		data, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("%s: %d with a body that is not JSON (Content-Encoding %q): %q", procedure, res.StatusCode, res.Header.Get("Content-Encoding"), data)
		}
		return res.StatusCode, out
	}
	wantSession := func(procedure string, status int, out map[string]any) string {
		t.Helper()
		if status != http.StatusOK || str(out, "tokens", "accessToken") == "" || str(out, "tokens", "refreshToken") != "" {
			t.Fatalf("%s: HTTP %d %v; want an access token and no refresh token", procedure, status, out)
		}
		return str(out, "tokens", "accessToken")
	}
	cookie := func() string {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, gatewayURL+"/api/parley.auth.v1.AuthService/RefreshToken", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range jar.Cookies(req.URL) {
			if c.Name == "parley_refresh" {
				return c.Value
			}
		}
		return ""
	}

	nick := uniqueName("cookie")
	status, out := post("Register", "", `{"email":"`+nick+`@example.com","password":"correct horse battery staple","nickname":"`+nick+`"}`)
	access := wantSession("Register", status, out)
	first := cookie()
	if len(first) < 40 {
		t.Fatalf("no refresh cookie after Register: %q", first)
	}
	if status, out := call(t, "parley.auth.v1.AuthService/GetMe", access, map[string]any{}); status != http.StatusOK {
		t.Fatalf("GetMe with the access token: %d %v", status, out)
	}

	// Two refreshes in a row: each presents the cookie the one before set.
	for range 2 {
		before := cookie()
		status, out = post("RefreshToken", "", `{}`)
		access = wantSession("RefreshToken", status, out)
		if after := cookie(); after == "" || after == before {
			t.Fatalf("the cookie did not rotate: %q then %q", before, after)
		}
	}
	if status, out := call(t, "parley.auth.v1.AuthService/GetMe", access, map[string]any{}); status != http.StatusOK {
		t.Fatalf("GetMe after refreshing: %d %v", status, out)
	}

	if status, out = post("Logout", "", `{}`); status != http.StatusOK {
		t.Fatalf("Logout from the cookie: %d %v", status, out)
	}
	if c := cookie(); c != "" {
		t.Fatalf("the refresh cookie outlived Logout: %q", c)
	}
	// The rotated-out first token is refused: the session has ended.
	status, out = call(t, "parley.auth.v1.AuthService/RefreshToken", "", map[string]any{"refreshToken": first})
	wantJSONError(t, status, out, http.StatusUnauthorized, "unauthenticated")
}

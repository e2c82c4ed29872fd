package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// call POSTs a JSON body to a procedure through the gateway, exactly as curl or a browser's fetch
// would, and decodes the JSON answer.
func call(t *testing.T, procedure, token string, body any) (int, map[string]any) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, gatewayURL+"/api/"+procedure, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", procedure, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("POST %s: %d with non-JSON body %q", procedure, res.StatusCode, data)
		}
	}
	return res.StatusCode, out
}

func mustOK(t *testing.T, procedure, token string, body any) map[string]any {
	t.Helper()
	status, out := call(t, procedure, token, body)
	if status != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d %v", procedure, status, out)
	}
	return out
}

func wantJSONError(t *testing.T, status int, out map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || out["code"] != wantCode {
		t.Fatalf("want HTTP %d %q, got HTTP %d %v", wantStatus, wantCode, status, out)
	}
}

func str(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	s, _ := cur.(string)
	return s
}

// TestAuthAndProfileWithPlainJSON is the same scenario as the generated-client test, with nothing
// but HTTP and JSON — what curl and a browser do.
func testAuthAndProfileWithPlainJSON(t *testing.T) {
	nick := uniqueName("jo")
	email := nick + "@example.com"
	password := "correct horse battery staple"
	const (
		register = "parley.auth.v1.AuthService/Register"
		login    = "parley.auth.v1.AuthService/Login"
		refresh  = "parley.auth.v1.AuthService/RefreshToken"
		getMe    = "parley.auth.v1.AuthService/GetMe"
		get      = "parley.profile.v1.ProfileService/GetProfile"
		update   = "parley.profile.v1.ProfileService/UpdateProfile"
		search   = "parley.profile.v1.ProfileService/SearchUsers"
	)

	reg := mustOK(t, register, "", map[string]any{"email": email, "password": password, "nickname": nick})
	userID := str(reg, "userId")
	if userID == "" || str(reg, "tokens", "accessToken") == "" || str(reg, "tokens", "tokenType") != "Bearer" {
		t.Fatalf("register answer: %v", reg)
	}
	status, out := call(t, register, "", map[string]any{"email": email, "password": "short", "nickname": nick})
	wantJSONError(t, status, out, http.StatusBadRequest, "invalid_argument")
	if !strings.Contains(fmt.Sprint(out["message"]), "password") {
		t.Fatalf("message should name the password field: %v", out)
	}

	first := mustOK(t, login, "", map[string]any{"email": strings.ToUpper(email), "password": password})
	second := mustOK(t, refresh, "", map[string]any{"refreshToken": str(first, "tokens", "refreshToken")})
	status, out = call(t, refresh, "", map[string]any{"refreshToken": str(first, "tokens", "refreshToken")})
	wantJSONError(t, status, out, http.StatusUnauthorized, "unauthenticated")
	status, out = call(t, refresh, "", map[string]any{"refreshToken": str(second, "tokens", "refreshToken")})
	wantJSONError(t, status, out, http.StatusUnauthorized, "unauthenticated")

	// The revoked session's access token is refused once SessionRevoked has reached the gateway.
	eventually(t, "the revoked session's access token refused", func() (bool, error) {
		if status, out := call(t, getMe, str(second, "tokens", "accessToken"), map[string]any{}); status != http.StatusUnauthorized {
			return false, fmt.Errorf("GetMe with a revoked session's token: HTTP %d %v", status, out)
		}
		return true, nil
	})

	token := str(mustOK(t, login, "", map[string]any{"email": email, "password": password}), "tokens", "accessToken")
	if got := str(mustOK(t, getMe, token, map[string]any{}), "account", "userId"); got != userID {
		t.Fatalf("GetMe user %q, want %q", got, userID)
	}
	status, out = call(t, getMe, "", map[string]any{})
	wantJSONError(t, status, out, http.StatusUnauthorized, "unauthenticated")

	profile := eventually(t, "profile", func() (map[string]any, error) {
		status, out := call(t, get, token, map[string]any{})
		if status != http.StatusOK {
			return nil, fmt.Errorf("HTTP %d %v", status, out)
		}
		return out, nil
	})
	if str(profile, "profile", "nickname") != nick {
		t.Fatalf("profile: %v", profile)
	}

	newNick := nick + "_x"
	if got := str(mustOK(t, update, token, map[string]any{"nickname": newNick, "about": "hi"}), "profile", "nickname"); got != newNick {
		t.Fatalf("updated nickname %q", got)
	}
	status, out = call(t, update, token, map[string]any{"nickname": "a"})
	wantJSONError(t, status, out, http.StatusBadRequest, "invalid_argument")

	res := mustOK(t, search, token, map[string]any{"query": "@" + newNick[:5]})
	results, _ := res["results"].([]any)
	found := false
	for _, r := range results {
		rm, _ := r.(map[string]any)
		if str(rm, "profile", "userId") == userID {
			found = true
		}
	}
	if !found {
		t.Fatalf("prefix search for %q did not find %s: %v", newNick[:5], userID, res)
	}

	// Unknown routes answer 404 in Connect's error format.
	status, out = call(t, "parley.nope.v1.NopeService/Nothing", token, map[string]any{})
	wantJSONError(t, status, out, http.StatusNotFound, "not_found")
}

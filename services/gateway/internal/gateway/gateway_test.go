package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/labstack/echo/v4"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1/authv1connect"
	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1/chatv1connect"
	profilev1 "github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1/profilev1connect"
	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/rpctest"

	"github.com/parleyhq/parley/services/gateway/internal/gateway"
)

// connectError is a Connect unary error body.
type connectError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// postJSON makes a Connect unary JSON call with plain HTTP, as a browser or curl would.
func postJSON(t *testing.T, url, body string, header http.Header) (*reply, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	return do(t, req)
}

// reply is a response read in full (named like http.Response's fields).
type reply struct {
	StatusCode int
	Header     http.Header
}

func do(t *testing.T, req *http.Request) (*reply, []byte) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &reply{StatusCode: res.StatusCode, Header: res.Header}, b
}

func wantConnectError(t *testing.T, res *reply, body []byte, status int, code string) connectError {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("status = %d, want %d (body %.200s)", res.StatusCode, status, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var e connectError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	if e.Code != code || e.Message == "" {
		t.Fatalf("error = %+v, want code %q with a message", e, code)
	}
	return e
}

func wantCode(t *testing.T, err error, code connect.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("call succeeded, want %v", code)
	}
	if got := connect.CodeOf(err); got != code {
		t.Fatalf("code = %v (%v), want %v", got, err, code)
	}
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func TestConnectJSONUnaryOverPlainHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res, body := postJSON(t, e.api+"/parley.auth.v1.AuthService/Login", `{"email":"ann@example.com","password":"secret"}`, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, body %s", res.StatusCode, body)
	}
	var got struct {
		UserID string `json:"userId"`
	}
	if err := json.Unmarshal(body, &got); err != nil || got.UserID != "user-of-ann@example.com" {
		t.Fatalf("body = %s (%v)", body, err)
	}
	if s := e.auth.last(t); s.procedure != authv1connect.AuthServiceLoginProcedure {
		t.Fatalf("upstream saw %q", s.procedure)
	}

	// An error from the service reaches the client as the service wrote it.
	res, body = postJSON(t, e.api+"/parley.auth.v1.AuthService/Login", `{"email":"ann@example.com","password":"nope"}`, nil)
	wantConnectError(t, res, body, http.StatusUnauthorized, "unauthenticated")
}

func TestConnectBinaryWithGeneratedClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	client := authv1connect.NewAuthServiceClient(http.DefaultClient, e.api) // binary protobuf is the default
	res, err := client.Login(t.Context(), connect.NewRequest(&authv1.LoginRequest{Email: "bo@example.com", Password: "secret"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.GetUserId() != "user-of-bo@example.com" {
		t.Fatalf("user id = %q", res.Msg.GetUserId())
	}
	if ct := e.auth.last(t).header.Get("Content-Type"); ct != "application/proto" {
		t.Fatalf("upstream saw Content-Type %q, want application/proto", ct)
	}
}

func TestConnectGET(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	client := connect.NewClient[profilev1.CheckNicknameRequest, profilev1.CheckNicknameResponse](http.DefaultClient,
		e.api+profilev1connect.ProfileServiceCheckNicknameProcedure, connect.WithHTTPGet(), connect.WithIdempotency(connect.IdempotencyNoSideEffects))
	res, err := client.CallUnary(t.Context(), connect.NewRequest(&profilev1.CheckNicknameRequest{Nickname: "free"}))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Msg.GetAvailable() {
		t.Fatal("available = false: the query string did not reach the service")
	}
	if m := e.profile.last(t).method; m != http.MethodGet {
		t.Fatalf("upstream saw %s, want GET", m)
	}
}

func TestGRPC(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	client := authv1connect.NewAuthServiceClient(h2cClient(t), e.api, connect.WithGRPC())
	res, err := client.Login(t.Context(), connect.NewRequest(&authv1.LoginRequest{Email: "cy@example.com", Password: "secret"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.GetUserId() != "user-of-cy@example.com" {
		t.Fatalf("user id = %q", res.Msg.GetUserId())
	}
	// A service error travels in the trailers.
	_, err = client.Login(t.Context(), connect.NewRequest(&authv1.LoginRequest{Email: "cy@example.com", Password: "bad"}))
	wantCode(t, err, connect.CodeUnauthenticated)
	if !strings.Contains(err.Error(), "wrong email or password") {
		t.Fatalf("error = %v, want the service's message", err)
	}
}

func TestGRPCWeb(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	client := authv1connect.NewAuthServiceClient(http.DefaultClient, e.api, connect.WithGRPCWeb())
	res, err := client.Login(t.Context(), connect.NewRequest(&authv1.LoginRequest{Email: "di@example.com", Password: "secret"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.GetUserId() != "user-of-di@example.com" {
		t.Fatalf("user id = %q", res.Msg.GetUserId())
	}
	_, err = client.Login(t.Context(), connect.NewRequest(&authv1.LoginRequest{Email: "di@example.com", Password: "bad"}))
	wantCode(t, err, connect.CodeUnauthenticated)
}

func TestServerStreamingInEveryProtocol(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.iss.Token(t, "streamer", authntest.TTL(time.Minute))
	for name, opts := range map[string][]connect.ClientOption{
		"connect":      nil,
		"connect+json": {connect.WithProtoJSON()},
		"grpc":         {connect.WithGRPC()},
		"grpc-web":     {connect.WithGRPCWeb()},
	} {
		t.Run(name, func(t *testing.T) {
			httpClient := http.DefaultClient
			if name == "grpc" {
				httpClient = h2cClient(t)
			}
			client := connect.NewClient[profilev1.CheckNicknameRequest, profilev1.CheckNicknameResponse](httpClient, e.api+streamProcedure, opts...)
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			req := connect.NewRequest(&profilev1.CheckNicknameRequest{Nickname: name})
			req.Header().Set("Authorization", "Bearer "+tok)
			stream, err := client.CallServerStream(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			// The first message must arrive while the service is still holding the stream open:
			// a gateway that buffered the response would block here until the timeout.
			if !stream.Receive() {
				t.Fatalf("no first message: %v", stream.Err())
			}
			if got := stream.Msg().GetReason(); got != "first:"+name {
				t.Fatalf("first message = %q", got)
			}
			e.streamer.release <- struct{}{}
			if !stream.Receive() || stream.Msg().GetReason() != "second" {
				t.Fatalf("no second message: %v", stream.Err())
			}
			if stream.Receive() {
				t.Fatalf("unexpected third message %v", stream.Msg())
			}
			wantCode(t, stream.Err(), connect.CodeAborted)
			if got := stream.ResponseTrailer().Get("X-Test-Trailer"); got != "done" {
				t.Fatalf("trailer X-Test-Trailer = %q, want done", got)
			}
			if u := e.chat.last(t).user; u != "streamer" {
				t.Fatalf("service saw user %q", u)
			}

			// Without a token the stream is refused in the protocol's own error format (an
			// end-of-stream message for Connect, grpc-status for gRPC and gRPC-Web).
			calls := e.chat.count()
			stream, err = client.CallServerStream(ctx, connect.NewRequest(&profilev1.CheckNicknameRequest{Nickname: name}))
			if err == nil {
				for stream.Receive() {
					t.Fatal("a message arrived without a token")
				}
				err = stream.Err()
				_ = stream.Close()
			}
			wantCode(t, err, connect.CodeUnauthenticated)
			if e.chat.count() != calls {
				t.Fatal("the service was called without a token")
			}
		})
	}
}

func TestUnknownRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, path := range []string{
		"/api/parley.nope.v1.NopeService/Do",
		"/api/parley.auth.v1.AuthService",
		"/api/parley.auth.v1.AuthService/Login/extra",
		"/api/garbage",
		"/api/",
		"/api",
		"/api/grpc.health.v1.Health/Check",
		"/api/parley.auth.v1.AuthService/Log%69n",
	} {
		t.Run(path, func(t *testing.T) {
			res, body := postJSON(t, e.url+path, `{}`, nil)
			wantConnectError(t, res, body, http.StatusNotFound, "not_found")
		})
	}
	if n := e.auth.count(); n != 0 {
		t.Fatalf("auth service was called %d times", n)
	}

	inEachProtocol(t, func(t *testing.T, httpClient *http.Client, opts ...connect.ClientOption) {
		client := connect.NewClient[authv1.LoginRequest, authv1.LoginResponse](httpClient, e.api+"/parley.nope.v1.NopeService/Login", opts...)
		_, err := client.CallUnary(t.Context(), connect.NewRequest(&authv1.LoginRequest{}))
		wantCode(t, err, connect.CodeNotFound)
	})
}

// Internal procedures (service-to-service only) are never routed, whoever calls and in every
// protocol; the list is configurable.
func TestInternalProceduresAreNotRouted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.iss.Token(t, "insider", authntest.TTL(time.Minute))
	res, body := postJSON(t, e.api+chatv1connect.ChatServiceCheckChatAccessProcedure, `{}`, bearer(tok))
	wantConnectError(t, res, body, http.StatusNotFound, "not_found")
	res, body = postJSON(t, e.api+"/parley.notification.v1.NotificationService/Notify", `{}`, nil)
	wantConnectError(t, res, body, http.StatusNotFound, "not_found")
	inEachProtocol(t, func(t *testing.T, httpClient *http.Client, opts ...connect.ClientOption) {
		client := chatv1connect.NewChatServiceClient(httpClient, e.api, opts...)
		req := connect.NewRequest(&chatv1.CheckChatAccessRequest{})
		req.Header().Set("Authorization", "Bearer "+tok)
		_, err := client.CheckChatAccess(t.Context(), req)
		wantCode(t, err, connect.CodeNotFound)
	})
	if n := e.chat.count(); n != 0 {
		t.Fatalf("the chat service was called %d times", n)
	}

	// With an empty list the same call is routed (the stand-in answers it).
	open := newEnv(t, func(o *gateway.Options) { o.InternalProcedures = []string{} })
	res, body = postJSON(t, open.api+chatv1connect.ChatServiceCheckChatAccessProcedure, `{}`, bearer(open.iss.Token(t, "insider", authntest.TTL(time.Minute))))
	if res.StatusCode != http.StatusOK || open.chat.count() != 1 {
		t.Fatalf("with no internal procedures: status %d, body %s, calls %d", res.StatusCode, body, open.chat.count())
	}
}

func TestPublicMethodNeedsNoToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	client := authv1connect.NewAuthServiceClient(http.DefaultClient, e.api)
	if _, err := client.Register(t.Context(), connect.NewRequest(&authv1.RegisterRequest{Email: "e@example.com"})); err != nil {
		t.Fatal(err)
	}
	if e.auth.count() != 1 {
		t.Fatal("Register did not reach the auth service")
	}
}

func TestProtectedMethodRefusedWithoutValidToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := authntest.New(t) // a key the gateway does not know
	for name, header := range map[string]http.Header{
		"no token":        nil,
		"not bearer":      {"Authorization": {"Basic dXNlcjpwdw=="}},
		"garbage":         bearer("not-a-jwt"),
		"foreign key":     bearer(other.Token(t, "mallory", authntest.TTL(time.Minute))),
		"expired":         bearer(e.iss.Token(t, "late", authntest.TTL(-2*time.Minute))),
		"identity header": {"X-User-Id": {"user-1"}},
	} {
		t.Run(name, func(t *testing.T) {
			res, body := postJSON(t, e.api+"/parley.auth.v1.AuthService/GetMe", `{}`, header)
			wantConnectError(t, res, body, http.StatusUnauthorized, "unauthenticated")
		})
	}
	inEachProtocol(t, func(t *testing.T, httpClient *http.Client, opts ...connect.ClientOption) {
		client := authv1connect.NewAuthServiceClient(httpClient, e.api, opts...)
		_, err := client.GetMe(t.Context(), connect.NewRequest(&authv1.GetMeRequest{}))
		wantCode(t, err, connect.CodeUnauthenticated)
	})
	if n := e.auth.count(); n != 0 {
		t.Fatalf("auth service was called %d times without a valid token", n)
	}
}

func TestValidTokenIsForwarded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.iss.Token(t, "user-1", authntest.TTL(time.Minute))
	client := authv1connect.NewAuthServiceClient(http.DefaultClient, e.api)
	req := connect.NewRequest(&authv1.GetMeRequest{})
	req.Header().Set("Authorization", "Bearer "+tok)
	req.Header().Set("X-User-Id", "someone-else")
	req.Header().Set("X-Parley-User", "someone-else")
	req.Header().Set("X-Request-Id", "req-123")
	res, err := client.GetMe(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	// The service verified the forwarded token itself (platform authn interceptor).
	if got := res.Msg.GetAccount().GetUserId(); got != "user-1" {
		t.Fatalf("service saw caller %q", got)
	}
	s := e.auth.last(t)
	if got := s.header.Get("Authorization"); got != "Bearer "+tok {
		t.Fatalf("Authorization forwarded as %q", got)
	}
	for _, h := range []string{"X-User-Id", "X-Parley-User"} {
		if v := s.header.Get(h); v != "" {
			t.Fatalf("%s reached the service: %q", h, v)
		}
	}
	if got := s.header.Get("X-Request-Id"); got != "req-123" {
		t.Fatalf("X-Request-Id forwarded as %q", got)
	}
	if got := res.Header().Get("X-Request-Id"); got != "req-123" {
		t.Fatalf("response X-Request-Id = %q", got)
	}
	if got := s.header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Fatalf("X-Forwarded-For = %q", got)
	}

	// The access log has one line for it with the procedure, code, user and request id.
	line := e.logs.waitFor(t, func(r map[string]any) bool { return r["msg"] == "request" && r["request_id"] == "req-123" })
	for k, want := range map[string]any{
		"procedure": authv1connect.AuthServiceGetMeProcedure, "code": "ok", "user": "user-1",
		"status": int64(200), "method": "POST", "upstream": "auth", "protocol": "connect",
	} {
		if line[k] != want {
			t.Errorf("access log %s = %v (%T), want %v", k, line[k], line[k], want)
		}
	}
	if _, ok := line["duration"]; !ok {
		t.Error("access log has no duration")
	}

	// Without X-Request-Id the gateway makes one and sends it both ways.
	req = connect.NewRequest(&authv1.GetMeRequest{})
	req.Header().Set("Authorization", "Bearer "+tok)
	res, err = client.GetMe(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	id := res.Header().Get("X-Request-Id")
	if id == "" || e.auth.last(t).header.Get("X-Request-Id") != id {
		t.Fatalf("generated request id %q not forwarded (service saw %q)", id, e.auth.last(t).header.Get("X-Request-Id"))
	}
}

func TestGRPCCodeInAccessLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	client := authv1connect.NewAuthServiceClient(h2cClient(t), e.api, connect.WithGRPC())
	req := connect.NewRequest(&authv1.LoginRequest{Email: "x@example.com", Password: "bad"})
	req.Header().Set("X-Request-Id", "grpc-req")
	_, err := client.Login(t.Context(), req)
	wantCode(t, err, connect.CodeUnauthenticated)
	line := e.logs.waitFor(t, func(r map[string]any) bool { return r["msg"] == "request" && r["request_id"] == "grpc-req" })
	if line["code"] != "unauthenticated" || line["protocol"] != "grpc" {
		t.Fatalf("access log line = %v", line)
	}
}

func TestVerifierUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A gateway whose JWKS endpoint is down cannot check tokens: Unavailable, not Unauthenticated,
	// so clients retry rather than sign the person out.
	g := newEnv(t, func(o *gateway.Options) {
		o.Verifier = authntest.RemoteVerifier(t, deadURL(t)+"/.well-known/jwks.json")
	})
	res, body := postJSON(t, g.api+"/parley.auth.v1.AuthService/GetMe", `{}`, bearer(e.iss.Token(t, "u", authntest.TTL(time.Minute))))
	wantConnectError(t, res, body, http.StatusServiceUnavailable, "unavailable")
}

func TestCORS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	preflight := func(origin string) *reply {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodOptions, e.api+"/parley.auth.v1.AuthService/GetMe", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,connect-protocol-version")
		res, _ := do(t, req)
		return res
	}
	res := preflight("http://localhost:8080")
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("preflight status = %d (it must not need a token)", res.StatusCode)
	}
	h := res.Header
	if got := h.Get("Access-Control-Allow-Origin"); got != "http://localhost:8080" {
		t.Fatalf("Allow-Origin = %q", got)
	}
	for _, want := range []string{"Authorization", "Content-Type", "Connect-Protocol-Version", "Connect-Timeout-Ms", "Grpc-Timeout", "X-Grpc-Web", "X-User-Agent"} {
		if !strings.Contains(h.Get("Access-Control-Allow-Headers"), want) {
			t.Errorf("Allow-Headers %q lacks %s", h.Get("Access-Control-Allow-Headers"), want)
		}
	}
	for _, want := range []string{"GET", "POST"} {
		if !strings.Contains(h.Get("Access-Control-Allow-Methods"), want) {
			t.Errorf("Allow-Methods %q lacks %s", h.Get("Access-Control-Allow-Methods"), want)
		}
	}
	if got := h.Get("Access-Control-Max-Age"); got != "7200" {
		t.Errorf("Max-Age = %q, want 7200", got)
	}
	if e.auth.count() != 0 {
		t.Fatal("a preflight reached the service")
	}

	if got := preflight("https://evil.example").Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("a foreign origin was allowed: %q", got)
	}

	// The actual call exposes the gRPC-Web trailers-in-headers to the page.
	res, _ = postJSON(t, e.api+"/parley.auth.v1.AuthService/Login", `{"password":"secret"}`, http.Header{"Origin": {"http://127.0.0.1:8080"}})
	if res.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:8080" {
		t.Fatalf("Allow-Origin on the call = %q", res.Header.Get("Access-Control-Allow-Origin"))
	}
	for _, want := range []string{"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin"} {
		if !strings.Contains(res.Header.Get("Access-Control-Expose-Headers"), want) {
			t.Errorf("Expose-Headers %q lacks %s", res.Header.Get("Access-Control-Expose-Headers"), want)
		}
	}
}

// chunked hides a reader's length so the request is sent without Content-Length.
type chunked struct{ io.Reader }

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *gateway.Options) { o.MaxBodyBytes = 1024 })
	big := `{"email":"` + strings.Repeat("a", 2048) + `","password":"secret"}`

	// Declared length over the limit: refused before anything is forwarded.
	res, body := postJSON(t, e.api+"/parley.auth.v1.AuthService/Login", big, nil)
	wantConnectError(t, res, body, http.StatusRequestEntityTooLarge, "resource_exhausted")
	if e.auth.count() != 0 {
		t.Fatal("the oversized call reached the service")
	}

	// No declared length: cut off while streaming to the service.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.api+"/parley.auth.v1.AuthService/Login", chunked{strings.NewReader(big)})
	req.Header.Set("Content-Type", "application/json")
	res, body = do(t, req)
	wantConnectError(t, res, body, http.StatusRequestEntityTooLarge, "resource_exhausted")

	// gRPC bodies have no length: the same limit, as grpc-status.
	client := authv1connect.NewAuthServiceClient(h2cClient(t), e.api, connect.WithGRPC())
	_, err := client.Login(t.Context(), connect.NewRequest(&authv1.LoginRequest{Email: strings.Repeat("b", 2048), Password: "secret"}))
	wantCode(t, err, connect.CodeResourceExhausted)
	if e.auth.count() != 0 {
		t.Fatal("an oversized call was answered by the service")
	}

	// Under the limit still works.
	res, body = postJSON(t, e.api+"/parley.auth.v1.AuthService/Login", `{"email":"s@example.com","password":"secret"}`, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("small call: %d %s", res.StatusCode, body)
	}
}

func TestUpstreamDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *gateway.Options) {
		up, err := gateway.NewUpstream("friend", deadURL(t))
		if err != nil {
			t.Fatal(err)
		}
		o.Upstreams = append(o.Upstreams, up)
	})
	tok := e.iss.Token(t, "u1", authntest.TTL(time.Minute))
	res, body := postJSON(t, e.api+"/parley.friend.v1.FriendService/ListFriends", `{}`, bearer(tok))
	ce := wantConnectError(t, res, body, http.StatusServiceUnavailable, "unavailable")
	if !strings.Contains(ce.Message, "friend") {
		t.Fatalf("message %q does not name the service", ce.Message)
	}
	// The cause goes to the access log, not to the client.
	line := e.logs.waitFor(t, func(r map[string]any) bool { return r["msg"] == "request" && r["upstream"] == "friend" })
	if line["code"] != "unavailable" || line["error"] == nil || line["level"] != "ERROR" {
		t.Fatalf("access log line = %v", line)
	}
	for name, opts := range map[string][]connect.ClientOption{"grpc": {connect.WithGRPC()}, "grpc-web": {connect.WithGRPCWeb()}} {
		t.Run(name, func(t *testing.T) {
			httpClient := http.DefaultClient
			if name == "grpc" {
				httpClient = h2cClient(t)
			}
			client := connect.NewClient[authv1.GetMeRequest, authv1.GetMeResponse](httpClient, e.api+"/parley.friend.v1.FriendService/ListFriends", opts...)
			req := connect.NewRequest(&authv1.GetMeRequest{})
			req.Header().Set("Authorization", "Bearer "+tok)
			_, err := client.CallUnary(t.Context(), req)
			wantCode(t, err, connect.CodeUnavailable)
		})
	}
}

func TestProbes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res, body := do(t, mustGet(t, e.url+"/healthz"))
	if res.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Fatalf("/healthz = %d %q", res.StatusCode, body)
	}
	down := newEnv(t, func(o *gateway.Options) {
		up, _ := gateway.NewUpstream("media", deadURL(t))
		o.Upstreams = append(o.Upstreams, up)
	})
	// Liveness does not depend on the services (readiness: ready_test.go).
	if res, _ := do(t, mustGet(t, down.url+"/healthz")); res.StatusCode != http.StatusOK {
		t.Fatalf("/healthz = %d", res.StatusCode)
	}
}

func mustGet(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestPanicRecovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.gateway.Echo().GET("/boom", func(echo.Context) error { panic("kaboom") })
	res, _ := do(t, mustGet(t, e.url+"/boom"))
	if res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", res.StatusCode)
	}
	e.logs.waitFor(t, func(r map[string]any) bool { return r["msg"] == "panic" && r["panic"] == "kaboom" })
	if res, _ := do(t, mustGet(t, e.url+"/healthz")); res.StatusCode != http.StatusOK {
		t.Fatal("the gateway stopped answering after a panic")
	}
}

func TestWebRoot(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res, body := do(t, mustGet(t, e.url+"/"))
	if res.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("/api/")) {
		t.Fatalf("/ = %d %q", res.StatusCode, body)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>parley</h1>"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.js"), []byte("console.log(1)"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := newEnv(t, func(o *gateway.Options) { o.WebDir = dir })
	for path, want := range map[string]string{"/": "<h1>parley</h1>", "/app.js": "console.log(1)", "/chats/42": "<h1>parley</h1>"} {
		res, body := do(t, browserGet(t, w.url+path))
		if res.StatusCode != http.StatusOK || string(body) != want {
			t.Errorf("%s = %d %q, want %q", path, res.StatusCode, body, want)
		}
	}
	// The API is still the API.
	res, body = postJSON(t, w.api+"/parley.nope.v1.X/Y", `{}`, nil)
	wantConnectError(t, res, body, http.StatusNotFound, "not_found")
}

// Without a web client the gateway serves the pages its emails link to, locked down: scripts from
// its own origin only, no Referer (the token is in the fragment, but nothing else leaks either).
func TestAccountPagesWithoutAWebClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for path, want := range map[string]string{
		"/verify-email":        `src="/account/account.js"`,
		"/reset-password":      `autocomplete="new-password"`,
		"/account/account.js":  `"/api/parley.auth.v1.AuthService/"`,
		"/account/account.css": "font-family",
	} {
		res, body := do(t, mustGet(t, e.url+path))
		h := res.Header
		if res.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(want)) {
			t.Errorf("%s = %d, body lacks %s", path, res.StatusCode, want)
		}
		if !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") || strings.Contains(h.Get("Content-Security-Policy"), "unsafe-inline") ||
			h.Get("Referrer-Policy") != "no-referrer" || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s headers: CSP %q, Referrer-Policy %q, Cache-Control %q", path, h.Get("Content-Security-Policy"), h.Get("Referrer-Policy"), h.Get("Cache-Control"))
		}
	}
	// A served web client owns these paths.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>parley</h1>"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := newEnv(t, func(o *gateway.Options) { o.WebDir = dir })
	if res, body := do(t, browserGet(t, w.url+"/verify-email")); res.StatusCode != http.StatusOK || string(body) != "<h1>parley</h1>" {
		t.Errorf("/verify-email with a web client = %d %q", res.StatusCode, body)
	}
}

func TestParseProcedure(t *testing.T) {
	t.Parallel()
	p, ok := gateway.ParseProcedure("/parley.auth.v1.AuthService/Login")
	if !ok || p.Package != "parley.auth.v1" || p.Service != "AuthService" || p.Method != "Login" {
		t.Fatalf("parsed %+v %v", p, ok)
	}
	for _, bad := range []string{"", "/", "/Login", "/AuthService/Login", "/parley.auth.v1.AuthService/", "/parley..v1.A/B", "/parley.auth.v1.AuthService/Login/", "/a.b/c d", "/../etc/passwd"} {
		if _, ok := gateway.ParseProcedure(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

// The parser is written out for speed; it must accept exactly what this pattern (its original
// definition) accepts, and split the same way.
var procedureReference = regexp.MustCompile(`^/((?:[A-Za-z_][A-Za-z0-9_]*\.)+)([A-Za-z_][A-Za-z0-9_]*)/([A-Za-z_][A-Za-z0-9_]*)$`)

func FuzzParseProcedureMatchesThePattern(f *testing.F) {
	for _, s := range []string{"/parley.auth.v1.AuthService/Login", "/a.B/c", "/_._/_", "/a.b.c/", "/a/b", "/a..b/c", "/9a.b/c",
		"/a.b/9c", "/a.b/c/d", "/a.b/c\n", "/ä.b/c", "/a.b_9/C_9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		p, ok := gateway.ParseProcedure(path)
		m := procedureReference.FindStringSubmatch(path)
		if ok != (m != nil) {
			t.Fatalf("%q: parsed %v, the pattern says %v", path, ok, m != nil)
		}
		if ok && (p.Package != strings.TrimSuffix(m[1], ".") || p.Service != m[2] || p.Method != m[3] || p.Path != path) {
			t.Fatalf("%q: parsed %+v, the pattern splits %q", path, p, m[1:])
		}
	})
}

func TestNewUpstreamRejectsBadURLs(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"127.0.0.1:8081", "ftp://x", "http://", "http://x/?a=b"} {
		if _, err := gateway.NewUpstream("auth", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestMediaFilesAreForwardedWithoutToken: /media/files/<id>/<variant> reaches the media service
// unchanged (query included, no token needed: media checks its own URL signatures); any other
// shape under /media is refused before it reaches media.
func TestMediaFilesAreForwardedWithoutToken(t *testing.T) {
	t.Parallel()
	var got atomic.Value
	// A stand-in for the media service's download route (the real one lives in its own module).
	// Served as services are, h2c included: the gateway reaches services over h2c.
	media := rpctest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Method + " " + r.URL.RequestURI())
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("png bytes"))
	}))
	e := newEnv(t, func(o *gateway.Options) {
		up, err := gateway.NewUpstream("media", media.URL)
		if err != nil {
			t.Fatal(err)
		}
		o.Upstreams = append(o.Upstreams, up)
	})
	const file = "/media/files/0b7c4c1e-6f0a-4c36-9f7e-3c1f6c2a9d10/64"
	res, err := http.Get(e.url + file + "?expires=1&sig=abc")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(body) != "png bytes" || res.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("GET %s: %d %q", file, res.StatusCode, body)
	}
	if got.Load() != "GET "+file+"?expires=1&sig=abc" {
		t.Fatalf("media saw %v", got.Load())
	}
	for _, bad := range []string{"/media/files/../../etc/passwd", "/media/files/not-an-id/64", "/media/files/0b7c4c1e-6f0a-4c36-9f7e-3c1f6c2a9d10/huge", "/media/upload"} {
		got.Store("")
		res, err := http.Get(e.url + bad)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound || got.Load() != "" {
			t.Errorf("GET %s: %d, media saw %q; want 404 and nothing forwarded", bad, res.StatusCode, got.Load())
		}
	}
}

// TestRevokedSessionIsRefused: once a session is revoked (logout), its still-unexpired access
// tokens are refused at the gateway, before the service is called; a check that fails lets the
// token decide.
func TestRevokedSessionIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var revoked atomic.Bool
	var failing atomic.Bool
	e.gateway.SetSessionCheck(func(_ context.Context, sid string) (bool, error) {
		if failing.Load() {
			return false, errors.New("redis down")
		}
		return revoked.Load() && sid == "session-user-1", nil
	})
	tok := e.iss.Token(t, "user-1", authntest.TTL(time.Minute))
	call := func() error {
		client := authv1connect.NewAuthServiceClient(http.DefaultClient, e.api)
		req := connect.NewRequest(&authv1.GetMeRequest{})
		req.Header().Set("Authorization", "Bearer "+tok)
		_, err := client.GetMe(t.Context(), req)
		return err
	}
	if err := call(); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	calls := e.auth.count()
	revoked.Store(true)
	err := call()
	wantCode(t, err, connect.CodeUnauthenticated)
	if e.auth.count() != calls {
		t.Fatal("a revoked session's call reached the service")
	}
	failing.Store(true)
	if err := call(); err != nil {
		t.Fatalf("with the check failing the token should decide: %v", err)
	}
}

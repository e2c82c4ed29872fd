package gateway_test

import (
	"crypto/rand"
	"net/http"
	"strconv"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/labstack/echo/v4"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1/authv1connect"
	"github.com/parleyhq/parley/platform/redistest"

	"github.com/parleyhq/parley/services/gateway/internal/gateway"
	"github.com/parleyhq/parley/services/gateway/internal/ratelimit"
)

// limitedEnv is a gateway with real Redis limits: 3 auth calls per IP, 2 calls per user, per hour
// (long enough that no window boundary falls inside the test). Loopback is a trusted proxy so the
// test can act as several clients through X-Forwarded-For.
func limitedEnv(t *testing.T) *env {
	t.Helper()
	limiter := ratelimit.New(newLogSinkLogger(), ratelimit.Options{Prefix: "test:gateway:" + rand.Text() + ":"})
	limiter.SetClient(redistest.New(t))
	return newEnv(t, func(o *gateway.Options) {
		o.Limiter = limiter
		o.AuthLimit = 3
		o.UserLimit = 2
		o.RateWindow = time.Hour
		o.TrustedProxies = []string{"127.0.0.0/8"}
	})
}

func TestRateLimitPerIPOnAuthMethods(t *testing.T) {
	t.Parallel()
	e := limitedEnv(t)
	login := func(ip string) (*reply, []byte) {
		return postJSON(t, e.api+"/parley.auth.v1.AuthService/Login", `{"email":"a@example.com","password":"secret"}`,
			http.Header{"X-Forwarded-For": {ip}})
	}
	for i := range 3 {
		if res, body := login("203.0.113.7"); res.StatusCode != http.StatusOK {
			t.Fatalf("login %d: %d %s", i+1, res.StatusCode, body)
		}
	}
	res, body := login("203.0.113.7")
	wantConnectError(t, res, body, http.StatusTooManyRequests, "resource_exhausted")
	if secs, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 2*3600 {
		t.Fatalf("Retry-After = %q", res.Header.Get("Retry-After"))
	}
	if n := e.auth.count(); n != 3 {
		t.Fatalf("auth service saw %d logins, want 3", n)
	}
	// Register shares the auth bucket; gRPC clients get the code in grpc-status.
	client := authv1connect.NewAuthServiceClient(h2cClient(t), e.api, connect.WithGRPC())
	req := connect.NewRequest(&authv1.RegisterRequest{Email: "r@example.com"})
	req.Header().Set("X-Forwarded-For", "203.0.113.7")
	_, err := client.Register(t.Context(), req)
	wantCode(t, err, connect.CodeResourceExhausted)

	// Another client is not affected.
	if res, body := login("203.0.113.8"); res.StatusCode != http.StatusOK {
		t.Fatalf("another IP: %d %s", res.StatusCode, body)
	}
	// The per-IP auth limit does not apply to other public methods.
	res, body = postJSON(t, e.api+"/parley.profile.v1.ProfileService/CheckNickname", `{"nickname":"free"}`, http.Header{"X-Forwarded-For": {"203.0.113.7"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("CheckNickname: %d %s", res.StatusCode, body)
	}
}

func TestRateLimitPerUser(t *testing.T) {
	t.Parallel()
	e := limitedEnv(t)
	ann, bob := e.iss.token(t, "ann-"+rand.Text(), time.Minute), e.iss.token(t, "bob-"+rand.Text(), time.Minute)
	call := func(tok string) (*reply, []byte) {
		return postJSON(t, e.api+"/parley.profile.v1.ProfileService/GetProfile", `{}`, bearer(tok))
	}
	for i := range 2 {
		if res, body := call(ann); res.StatusCode != http.StatusOK {
			t.Fatalf("call %d: %d %s", i+1, res.StatusCode, body)
		}
	}
	res, body := call(ann)
	wantConnectError(t, res, body, http.StatusTooManyRequests, "resource_exhausted")
	if res.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	// The limit is per user: the same IP with another user passes.
	if res, body := call(bob); res.StatusCode != http.StatusOK {
		t.Fatalf("bob: %d %s", res.StatusCode, body)
	}
	if n := e.profile.count(); n != 3 {
		t.Fatalf("profile service saw %d calls, want 3", n)
	}
}

func TestRateLimitFailsOpenWithoutRedis(t *testing.T) {
	t.Parallel()
	sink := newLogSink()
	limiter := ratelimit.New(slogFrom(sink), ratelimit.Options{})
	defer limiter.Close()
	if err := limiter.Connect(t.Context(), "redis://"+deadURL(t)[len("http://"):]); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *gateway.Options) {
		o.Limiter = limiter
		o.AuthLimit = 1
		o.UserLimit = 1
	})
	for i := range 3 {
		res, body := postJSON(t, e.api+"/parley.auth.v1.AuthService/Login", `{"password":"secret"}`, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("login %d with Redis down: %d %s", i+1, res.StatusCode, body)
		}
	}
	sink.waitFor(t, func(r map[string]any) bool { return r["level"] == "WARN" })
}

// TestLimitPerIPOnOtherRoutes: routes outside /api (the WebSocket upgrade) get the anonymous
// per-IP limit through LimitPerIP.
func TestLimitPerIPOnOtherRoutes(t *testing.T) {
	t.Parallel()
	e := limitedEnv(t)
	e.gateway.Echo().GET("/limited", func(c echo.Context) error { return c.String(http.StatusOK, "ok") }, e.gateway.LimitPerIP())
	get := func(ip string) int {
		req, _ := http.NewRequest(http.MethodGet, e.url+"/limited", nil)
		req.Header.Set("X-Forwarded-For", ip)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for i := range 2 { // UserLimit is 2 in limitedEnv
		if s := get("198.51.100.9"); s != http.StatusOK {
			t.Fatalf("request %d: %d", i+1, s)
		}
	}
	if s := get("198.51.100.9"); s != http.StatusTooManyRequests {
		t.Fatalf("third request from one IP: %d, want 429", s)
	}
	if s := get("198.51.100.10"); s != http.StatusOK {
		t.Fatalf("another IP: %d, want 200", s)
	}
}

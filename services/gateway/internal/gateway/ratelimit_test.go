package gateway_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/labstack/echo/v4"
	"github.com/redis/rueidis"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1/authv1connect"
	profilev1 "github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1/profilev1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/redisconn"
	"github.com/parleyhq/parley/platform/redistest"

	"github.com/parleyhq/parley/services/gateway/internal/gateway"
	"github.com/parleyhq/parley/services/gateway/internal/ratelimit"
)

// limitedEnv is a gateway with real Redis limits: 3 auth calls per IP, 2 calls per user, per hour
// (long enough that no window boundary falls inside the test). Loopback is a trusted proxy so the
// test can act as several clients through X-Forwarded-For. opts apply after those settings.
func limitedEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	redis := redistest.New(t)
	limiter := ratelimit.New(newLogSinkLogger(), ratelimit.Options{
		Redis: func() rueidis.Client { return redis }, Prefix: "test:gateway:" + rand.Text() + ":",
	})
	return newEnv(t, append([]envOption{func(o *gateway.Options) {
		o.Limiter = limiter
		o.AuthLimit = 3
		o.UserLimit = 2
		o.RateWindow = time.Hour
		o.TrustedProxies = []string{"127.0.0.0/8"}
	}}, opts...)...)
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
	ann, bob := e.iss.Token(t, "ann-"+rand.Text(), authntest.TTL(time.Minute)), e.iss.Token(t, "bob-"+rand.Text(), authntest.TTL(time.Minute))
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
	redis, err := redisconn.OpenInBackground(t.Context(), "redis://"+deadURL(t)[len("http://"):], redisconn.Retry{})
	if err != nil {
		t.Fatal(err)
	}
	defer redis.Close()
	limiter := ratelimit.New(slogFrom(sink), ratelimit.Options{Redis: redis.Client})
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

// countingVerifier counts the tokens the gateway actually verifies (the authn.Verifier's memory
// of verified tokens, Known, is passed through uncounted).
type countingVerifier struct {
	*authn.Verifier
	verified atomic.Int64
}

func (v *countingVerifier) Verify(ctx context.Context, raw string) (authn.Principal, error) {
	v.verified.Add(1)
	return v.Verifier.Verify(ctx, raw)
}

// TestBadTokenFloodIsRateLimited: calls whose token does not verify are charged to the client's
// anonymous budget (RATE_LIMIT_USER, 2 here) and end in resource_exhausted; once refused, the
// gateway stops verifying unknown tokens from that client, while a signed-in user's token it has
// verified before still passes. (The gateway used to answer unauthenticated before any limit.)
func TestBadTokenFloodIsRateLimited(t *testing.T) {
	t.Parallel()
	var counter *countingVerifier
	e := limitedEnv(t, func(o *gateway.Options) {
		counter = &countingVerifier{Verifier: o.Verifier.(*authn.Verifier)}
		o.Verifier = counter
	})
	const flooder = "203.0.113.66"
	getProfile := func(ip string, header http.Header) (*reply, []byte) {
		h := http.Header{"X-Forwarded-For": {ip}}
		for k, v := range header {
			h[k] = v
		}
		return postJSON(t, e.api+"/parley.profile.v1.ProfileService/GetProfile", `{}`, h)
	}
	ann := e.iss.Token(t, "ann-"+rand.Text(), authntest.TTL(time.Minute))
	if res, body := getProfile(flooder, bearer(ann)); res.StatusCode != http.StatusOK {
		t.Fatalf("ann's first call: %d %s", res.StatusCode, body)
	}

	forged := authntest.New(t).Token(t, "mallory", authntest.TTL(time.Minute))
	for range 2 {
		res, body := getProfile(flooder, bearer(forged))
		wantConnectError(t, res, body, http.StatusUnauthorized, "unauthenticated")
	}
	res, body := getProfile(flooder, bearer(forged))
	wantConnectError(t, res, body, http.StatusTooManyRequests, "resource_exhausted")
	if res.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	verified := counter.verified.Load()
	// From now on unknown tokens from the flooder are refused before they are verified: garbage,
	// another forged token, no token at all, and over gRPC too.
	for name, h := range map[string]http.Header{
		"garbage": bearer("not-a-jwt"), "forged": bearer(authntest.New(t).Token(t, "eve", authntest.TTL(time.Minute))), "none": nil,
	} {
		res, body := getProfile(flooder, h)
		if res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("%s token after the refusal: %d %s, want 429", name, res.StatusCode, body)
		}
	}
	client := profilev1connect.NewProfileServiceClient(h2cClient(t), e.api, connect.WithGRPC())
	req := connect.NewRequest(&profilev1.GetProfileRequest{})
	req.Header().Set("X-Forwarded-For", flooder)
	req.Header().Set("Authorization", "Bearer "+forged)
	_, err := client.GetProfile(t.Context(), req)
	wantCode(t, err, connect.CodeResourceExhausted)
	if n := counter.verified.Load(); n != verified {
		t.Fatalf("%d more tokens were verified after the client's budget was refused, want 0", n-verified)
	}

	// Ann, already signed in behind the same address, is not locked out: her token is known.
	if res, body := getProfile(flooder, bearer(ann)); res.StatusCode != http.StatusOK {
		t.Fatalf("ann behind the flooding address: %d %s", res.StatusCode, body)
	}
	// A token this gateway has never verified waits for the Retry-After like the flood (the
	// documented cost of limiting before verifying).
	if res, _ := getProfile(flooder, bearer(e.iss.Token(t, "bob-"+rand.Text(), authntest.TTL(time.Minute)))); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a new token from the refused address: %d, want 429", res.StatusCode)
	}
	// Another client with a bad token is told it is unauthenticated.
	res, body = getProfile("203.0.113.67", bearer(forged))
	wantConnectError(t, res, body, http.StatusUnauthorized, "unauthenticated")
	if n := e.profile.count(); n != 2 {
		t.Fatalf("profile service saw %d calls, want ann's 2", n)
	}
}

// TestPerIPBudgetsKeyIPv6ByItsSlash64: one host owns a whole /64, so every address in it shares a
// budget; an IPv4-mapped IPv6 address shares the IPv4 address's budget.
func TestPerIPBudgetsKeyIPv6ByItsSlash64(t *testing.T) {
	t.Parallel()
	e := limitedEnv(t) // RATE_LIMIT_AUTH = 3
	login := func(ip string) *reply {
		res, _ := postJSON(t, e.api+"/parley.auth.v1.AuthService/Login", `{"email":"a@example.com","password":"secret"}`,
			http.Header{"X-Forwarded-For": {ip}})
		return res
	}
	for _, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::2", "2001:db8:1:2:aaaa:bbbb:cccc:dddd"} {
		if res := login(ip); res.StatusCode != http.StatusOK {
			t.Fatalf("login from %s: %d", ip, res.StatusCode)
		}
	}
	if res := login("2001:db8:1:2::99"); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fourth login from the same /64: %d, want 429", res.StatusCode)
	}
	if res := login("2001:db8:1:3::1"); res.StatusCode != http.StatusOK {
		t.Fatalf("login from the next /64: %d, want 200", res.StatusCode)
	}
	for range 3 {
		if res := login("::ffff:198.51.100.20"); res.StatusCode != http.StatusOK {
			t.Fatalf("login from an IPv4-mapped address: %d", res.StatusCode)
		}
	}
	if res := login("198.51.100.20"); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the IPv4 address after its mapped form used the budget: %d, want 429", res.StatusCode)
	}
	if res := login("198.51.100.21"); res.StatusCode != http.StatusOK {
		t.Fatalf("the next IPv4 address: %d, want 200", res.StatusCode)
	}
}

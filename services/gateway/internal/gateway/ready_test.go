package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/services/gateway/internal/gateway"
)

// withDeadMedia adds a media upstream nothing listens on: the gateway is not ready.
func withDeadMedia(t *testing.T) envOption {
	return func(o *gateway.Options) {
		up, err := gateway.NewUpstream("media", deadURL(t))
		if err != nil {
			t.Fatal(err)
		}
		o.Upstreams = append(o.Upstreams, up)
	}
}

// countingUpstream is a media service that only answers /healthz, counting the probes.
func countingUpstream(t *testing.T, probes *atomic.Int64) envOption {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			probes.Add(1)
		}
		_, _ = w.Write([]byte("ok\n"))
	}))
	t.Cleanup(srv.Close)
	return func(o *gateway.Options) {
		up, err := gateway.NewUpstream("media", srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		o.Upstreams = append(o.Upstreams, up)
	}
}

func getReadyz(t *testing.T, url string, header http.Header) (*reply, []byte) {
	t.Helper()
	req := mustGet(t, url+"/readyz")
	for k, v := range header {
		req.Header[k] = v
	}
	return do(t, req)
}

// TestReadyzPublicAnswerIsStatusOnly: the public probe says ready or not ready and nothing else —
// no service names, addresses or error text (it used to return every check's error).
func TestReadyzPublicAnswerIsStatusOnly(t *testing.T) {
	t.Parallel()
	up := newEnv(t)
	res, body := getReadyz(t, up.url, nil)
	if res.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != `{"status":"ready"}` {
		t.Fatalf("/readyz with every service up = %d %s", res.StatusCode, body)
	}

	down := newEnv(t, withDeadMedia(t))
	res, body = getReadyz(t, down.url, nil)
	if res.StatusCode != http.StatusServiceUnavailable || strings.TrimSpace(string(body)) != `{"status":"not ready"}` {
		t.Fatalf("/readyz with media down = %d %s, want 503 with the status only", res.StatusCode, body)
	}
	// The access-log line (operators only) still names what is missing.
	line := down.logs.waitFor(t, func(r map[string]any) bool { return r["msg"] == "request" && r["path"] == "/readyz" })
	if got, _ := json.Marshal(line["not_ready"]); string(got) != `["media"]` {
		t.Fatalf("access log not_ready = %s, want [\"media\"] (line %v)", got, line)
	}
}

type detailedReport struct {
	Status   string `json:"status"`
	Checks   []gateway.CheckResult
	NotReady []string `json:"not_ready"`
}

func (r detailedReport) check(t *testing.T, name string) gateway.CheckResult {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("report has no check %q: %+v", name, r)
	return gateway.CheckResult{}
}

func decodeReport(t *testing.T, body []byte) detailedReport {
	t.Helper()
	var rep detailedReport
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return rep
}

func wantMediaDownReport(t *testing.T, body []byte) {
	t.Helper()
	rep := decodeReport(t, body)
	if rep.Status != "not ready" || len(rep.NotReady) != 1 || rep.NotReady[0] != "media" {
		t.Fatalf("report = %s", body)
	}
	if c := rep.check(t, "auth"); !c.OK || !c.Required || c.Error != "" {
		t.Fatalf("auth check = %+v", c)
	}
	if c := rep.check(t, "media"); c.OK || !strings.Contains(c.Error, "unreachable") {
		t.Fatalf("media check = %+v, want its error", c)
	}
}

// TestReadyzDetailsForTheToken: READYZ_TOKEN unlocks the detailed report on the public port; a
// wrong or missing token gets the status only.
func TestReadyzDetailsForTheToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withDeadMedia(t), func(o *gateway.Options) { o.ReadyToken = "probe-secret" })
	res, body := getReadyz(t, e.url, bearer("probe-secret"))
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status = %d", res.StatusCode)
	}
	wantMediaDownReport(t, body)
	for name, h := range map[string]http.Header{
		"wrong token":  bearer("probe-secreT"),
		"longer token": bearer("probe-secret-and-more"),
		"no token":     nil,
	} {
		res, body := getReadyz(t, e.url, h)
		if res.StatusCode != http.StatusServiceUnavailable || strings.TrimSpace(string(body)) != `{"status":"not ready"}` {
			t.Fatalf("%s: %d %s, want the status only", name, res.StatusCode, body)
		}
	}
	// Without READYZ_TOKEN configured, no bearer token unlocks anything (not even an empty one).
	plain := newEnv(t, withDeadMedia(t))
	for _, h := range []http.Header{bearer(""), {"Authorization": {"Bearer"}}} {
		if _, body := getReadyz(t, plain.url, h); strings.TrimSpace(string(body)) != `{"status":"not ready"}` {
			t.Fatalf("without READYZ_TOKEN: %s", body)
		}
	}
}

// TestReadyDetailsHandler: the admin listener's report names every check with its error;
// reported-only checks (AddReadinessCheck without Required) do not decide readiness.
func TestReadyDetailsHandler(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withDeadMedia(t))
	admin := httptest.NewServer(e.gateway.ReadyDetailsHandler())
	t.Cleanup(admin.Close)
	res, body := do(t, mustGet(t, admin.URL))
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("admin report = %d %s %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	wantMediaDownReport(t, body)

	up := newEnv(t)
	up.gateway.AddReadinessCheck(gateway.ReadinessCheck{Name: "optional", Check: func(context.Context) error {
		return errors.New("optional thing is down")
	}})
	admin = httptest.NewServer(up.gateway.ReadyDetailsHandler())
	t.Cleanup(admin.Close)
	res, body = do(t, mustGet(t, admin.URL))
	rep := decodeReport(t, body)
	if res.StatusCode != http.StatusOK || rep.Status != "ready" {
		t.Fatalf("a failing reported-only check made the gateway not ready: %d %s", res.StatusCode, body)
	}
	if c := rep.check(t, "optional"); c.OK || c.Required || c.Error != "optional thing is down" {
		t.Fatalf("optional check = %+v", c)
	}
	up.gateway.AddReadinessCheck(gateway.ReadinessCheck{Name: "vital", Required: true, Check: func(context.Context) error {
		return errors.New("vital thing is down")
	}})
	if res, body := getReadyz(t, up.url, nil); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a failing required check: %d %s, want 503", res.StatusCode, body)
	}
}

// TestReadyzFloodCostsOneRoundOfChecks: however many probes arrive, at once or one after the
// other, the services are probed once per cache interval; after it, once more.
func TestReadyzFloodCostsOneRoundOfChecks(t *testing.T) {
	t.Parallel()
	var probes atomic.Int64
	e := newEnv(t, countingUpstream(t, &probes), func(o *gateway.Options) { o.ReadyCacheTTL = time.Second })
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	gateway.SetReadyClock(e.gateway, func() time.Time { return time.Unix(0, clock.Load()) })

	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			res, err := http.Get(e.url + "/readyz")
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Errorf("/readyz = %d", res.StatusCode)
			}
		})
	}
	wg.Wait()
	for range 20 {
		if res, body := getReadyz(t, e.url, nil); res.StatusCode != http.StatusOK {
			t.Fatalf("/readyz = %d %s", res.StatusCode, body)
		}
	}
	if n := probes.Load(); n != 1 {
		t.Fatalf("40 /readyz calls within the cache interval probed media %d times, want 1", n)
	}
	clock.Add(int64(time.Second)) // the interval has passed
	for range 5 {
		getReadyz(t, e.url, nil)
	}
	if n := probes.Load(); n != 2 {
		t.Fatalf("after the interval media was probed %d times in all, want 2", n)
	}
}

// TestReadyzIsRateLimitedPerIP: /readyz is limited per client like an anonymous call, in a bucket
// of its own, so API traffic from a health checker's address cannot make the probe fail.
func TestReadyzIsRateLimitedPerIP(t *testing.T) {
	t.Parallel()
	e := limitedEnv(t) // RATE_LIMIT_USER = 2
	probe := func(ip string) *reply {
		res, _ := getReadyz(t, e.url, http.Header{"X-Forwarded-For": {ip}})
		return res
	}
	// Use up 192.0.2.50's anonymous API budget first: the probe is not affected.
	for range 3 {
		postJSON(t, e.api+"/parley.profile.v1.ProfileService/CheckNickname", `{"nickname":"x"}`, http.Header{"X-Forwarded-For": {"192.0.2.50"}})
	}
	for i := range 2 {
		if res := probe("192.0.2.50"); res.StatusCode != http.StatusOK {
			t.Fatalf("probe %d: %d", i+1, res.StatusCode)
		}
	}
	res := probe("192.0.2.50")
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("third probe from one address: %d (Retry-After %q), want 429 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if res := probe("192.0.2.51"); res.StatusCode != http.StatusOK {
		t.Fatalf("another address: %d", res.StatusCode)
	}
}

package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/parleyhq/parley/platform/logtest"
	"github.com/parleyhq/parley/platform/proctest"
	"github.com/parleyhq/parley/platform/telemetry"
	"github.com/parleyhq/parley/platform/waittest"
)

// TestRunServesAndStops starts the real wiring from environment variables (with every service, Redis
// and Kafka absent), checks it answers, and that cancelling the context shuts it down cleanly.
func TestRunServesAndStops(t *testing.T) {
	addr := proctest.FreeAddr(t)
	deadURL := "http://" + proctest.FreeAddr(t)
	adminAddr := proctest.FreeAddr(t)

	t.Setenv("LISTEN_ADDR", addr)
	t.Setenv("ADMIN_ADDR", adminAddr)
	for _, v := range []string{"AUTH_URL", "PROFILE_URL", "FRIEND_URL", "CHAT_URL", "NOTIFICATION_URL", "MEDIA_URL"} {
		t.Setenv(v, deadURL)
	}
	t.Setenv("AUTH_JWKS_URL", deadURL+"/.well-known/jwks.json")
	t.Setenv("REDIS_URL", "redis://:hunter2@"+strings.TrimPrefix(deadURL, "http://"))
	t.Setenv("KAFKA_BROKERS", strings.TrimPrefix(deadURL, "http://")) // realtime waits; nothing else breaks
	t.Setenv("SHUTDOWN_TIMEOUT", "2s")

	var logs logtest.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	// Go, not StartService: with every dependency down the gateway serves but is never ready.
	stop := waittest.Go(t, func(ctx context.Context) error { return run(ctx, logger) })

	var healthz int
	waittest.UntilNil(t, "the gateway to listen", func() error {
		res, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return err
		}
		_ = res.Body.Close()
		healthz = res.StatusCode
		return nil
	})
	if healthz != http.StatusOK {
		t.Fatalf("/healthz = %d", healthz)
	}
	// The public probe says only that it is not ready; the admin listener says why.
	res, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || strings.TrimSpace(string(body)) != `{"status":"not ready"}` {
		t.Fatalf("public /readyz with nothing running = %d %s", res.StatusCode, body)
	}
	res, err = http.Get("http://" + adminAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"auth"`) || !strings.Contains(string(body), `"auth keys"`) ||
		!strings.Contains(string(body), strings.TrimPrefix(deadURL, "http://")) {
		t.Fatalf("admin /readyz with nothing running = %d %s, want every check with its error", res.StatusCode, body)
	}

	// The realtime endpoint is mounted: a plain GET (no WebSocket upgrade) is refused as such.
	res, err = http.Get("http://" + addr + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("GET /ws without upgrade = %d, want 426", res.StatusCode)
	}

	// A call to a service that is down is answered unavailable and measured; the metrics are on
	// the admin listener, parsed as Prometheus parses them, and nowhere on the public port.
	res, err = http.Post("http://"+addr+"/api/parley.profile.v1.ProfileService/CheckNickname", "application/json", strings.NewReader(`{"nickname":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a call to a service that is down = %d, want 503", res.StatusCode)
	}
	res, err = http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	_ = res.Body.Close()
	if err != nil {
		t.Fatalf("admin /metrics does not parse: %v", err)
	}
	calls := families[telemetry.MetricRPCDuration]
	if calls == nil || len(calls.GetMetric()) != 1 || calls.GetMetric()[0].GetHistogram().GetSampleCount() != 1 ||
		!hasLabels(calls.GetMetric()[0], "service", "gateway", "procedure", "/parley.profile.v1.ProfileService/CheckNickname", "code", "unavailable") {
		t.Errorf("%s = %v, want the one call, unavailable", telemetry.MetricRPCDuration, calls)
	}
	if families[telemetry.MetricWSConnections] == nil {
		t.Errorf("no %s on the admin listener", telemetry.MetricWSConnections)
	}
	res, err = http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	_ = res.Body.Close()
	if strings.Contains(string(body), "parley_") {
		t.Fatalf("the public port serves metrics: %d %s", res.StatusCode, body)
	}

	stop()
	out := logs.String()
	if !strings.Contains(out, "LISTEN_ADDR="+addr) || strings.Contains(out, "hunter2") {
		t.Fatalf("configuration not logged, or the Redis password was: %s", out)
	}
}

// hasLabels reports whether m has each name/value pair of kv.
func hasLabels(m *dto.Metric, kv ...string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			found = found || (l.GetName() == kv[i] && l.GetValue() == kv[i+1])
		}
		if !found {
			return false
		}
	}
	return true
}

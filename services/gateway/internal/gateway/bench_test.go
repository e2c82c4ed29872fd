package gateway_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1/profilev1connect"
	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/telemetry"

	"github.com/parleyhq/parley/services/gateway/internal/gateway"
)

// cannedUpstream answers every forwarded call at once with a small Connect response, so the
// benchmark measures the gateway's own work (no network, no service behind it).
type cannedUpstream struct{}

func (cannedUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(`{"available":true}`)),
		ContentLength: int64(len(`{"available":true}`)), Request: r,
	}, nil
}

// discardSpans is an exporter that keeps nothing: the cost measured is making the spans.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

// BenchmarkProxiedCall is one Connect unary call through the gateway's whole handler (request id,
// access log, CORS, routing, the proxy), answered by a canned upstream: without telemetry, with
// tracing off (metrics only: what production runs without OTEL_EXPORTER_OTLP_ENDPOINT) and with
// tracing on, every span made and handed to an exporter (the dearest case).
//
//	cd services/gateway && go test -run '^$' -bench ProxiedCall -benchmem ./internal/gateway/
func BenchmarkProxiedCall(b *testing.B) {
	for _, mode := range []struct {
		name string
		tel  *telemetry.Telemetry
	}{
		{"no_telemetry", nil},
		{"tracing_off", telemetry.New("gateway", nil)},
		{"tracing_on", telemetry.New("gateway", discardSpans{})},
	} {
		b.Run(mode.name, func(b *testing.B) {
			up, err := gateway.NewUpstream("profile", "http://profile.invalid")
			if err != nil {
				b.Fatal(err)
			}
			g, err := gateway.New(gateway.Options{
				Logger:           slog.New(slog.DiscardHandler),
				Upstreams:        []gateway.Upstream{up},
				Verifier:         authntest.New(b).Verifier(),
				PublicProcedures: []string{profilev1connect.ProfileServiceCheckNicknameProcedure},
				Transport:        cannedUpstream{},
				Telemetry:        mode.tel,
			})
			if err != nil {
				b.Fatal(err)
			}
			h := g.Handler()
			const body = `{"nickname":"free"}`
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/api"+profilev1connect.ProfileServiceCheckNicknameProcedure, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

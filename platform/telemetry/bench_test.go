package telemetry_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/platform/telemetry"
)

// discardSpans is an exporter that keeps nothing: the cost measured is making the spans.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

// mode is a benchmark's telemetry: none, tracing off (metrics only), or tracing on with every
// span handed to an exporter.
type mode struct {
	name string
	tel  *telemetry.Telemetry
}

// modes returns the three modes, each with a Telemetry of its own.
func modes() []mode {
	return []mode{
		{"no_telemetry", nil},
		{"tracing_off", telemetry.New("chat", nil)},
		{"tracing_on", telemetry.New("chat", discardSpans{})},
	}
}

// BenchmarkServedCall is one Connect unary call (JSON, as the gateway forwards a browser's)
// through a service's whole handler chain — server.HandlerOptions with the telemetry interceptor,
// as chat's SendMessage and every other procedure are served — to a handler that echoes: without
// telemetry, with tracing off (metrics only) and with tracing on, the caller's traceparent
// continued and every span handed to an exporter.
//
//	cd platform && go test -run '^$' -bench ServedCall -benchmem ./telemetry/
func BenchmarkServedCall(b *testing.B) {
	const procedure = "/parley.chat.v1.ChatService/SendMessage"
	for _, mode := range modes() {
		b.Run(mode.name, func(b *testing.B) {
			var opts []connect.HandlerOption
			if mode.tel == nil {
				opts = server.HandlerOptions(slog.New(slog.DiscardHandler), nil)
			} else {
				opts = server.HandlerOptions(slog.New(slog.DiscardHandler), nil, mode.tel.ServerInterceptor())
			}
			h := connect.NewUnaryHandler(procedure, func(_ context.Context, req *connect.Request[wrapperspb.StringValue]) (*connect.Response[wrapperspb.StringValue], error) {
				return connect.NewResponse(req.Msg), nil
			}, opts...)
			const body = `"Hello! This is a benchmark message of a typical length, about eighty characters."`
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, procedure, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkInterceptor is the interceptor's own work on one call, without the HTTP and Connect
// machinery around it (which BenchmarkServedCall includes, and whose noise on a shared machine
// hides differences this small): nothing, tracing off (the histogram), tracing on (extracting the
// caller's context, a span, the histogram).
//
//	cd platform && go test -run '^$' -bench Interceptor -benchmem ./telemetry/
func BenchmarkInterceptor(b *testing.B) {
	next := func(_ context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		return connect.NewResponse(&wrapperspb.StringValue{}), nil
	}
	for _, mode := range modes() {
		b.Run(mode.name, func(b *testing.B) {
			call := connect.UnaryFunc(next)
			if mode.tel != nil {
				call = mode.tel.ServerInterceptor().WrapUnary(next)
			}
			req := connect.NewRequest(&wrapperspb.StringValue{Value: "hello"})
			req.Header().Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := call(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHistogram is the choice of metrics library (docs/telemetry.md#choices): recording one
// call's latency by procedure and code with prometheus/client_golang, as Parley does, and with the
// OpenTelemetry metric SDK.
//
//	cd platform && go test -run '^$' -bench Histogram -benchmem ./telemetry/
func BenchmarkHistogram(b *testing.B) {
	const procedure = "/parley.chat.v1.ChatService/SendMessage"
	buckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	b.Run("client_golang", func(b *testing.B) {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "d", Buckets: buckets}, []string{"procedure", "code"})
		prometheus.NewRegistry().MustRegister(h)
		b.ReportAllocs()
		for b.Loop() {
			h.WithLabelValues(procedure, "ok").Observe(0.0012)
		}
	})
	b.Run("otel_sdk", func(b *testing.B) {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		h, err := mp.Meter("bench").Float64Histogram("d", metric.WithExplicitBucketBoundaries(buckets...))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			h.Record(ctx, 0.0012, metric.WithAttributes(attribute.String("procedure", procedure), attribute.String("code", "ok")))
		}
	})
}

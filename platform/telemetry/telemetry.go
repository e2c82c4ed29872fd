// Package telemetry is every Parley process's traces and metrics, set up in one place and handed
// to what needs it (the Connect interceptors, the Postgres pool, the outbox relay and consumers,
// the gateway):
//
//   - Traces: OpenTelemetry, exported over OTLP/HTTP when the standard OTEL_EXPORTER_OTLP_ENDPOINT
//     (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, and off otherwise. Off means off: no tracer
//     provider, no propagator, no span is ever started, and every instrumented path checks one
//     boolean (Tracing) — the hot path pays nothing for tracing it does not do.
//   - Metrics: Prometheus, collected always (counters and histograms cost an atomic add) and served
//     in the text format on the admin listener only (MetricsHandler, ADMIN_ADDR), never on a
//     public port. Every series carries the process's service label.
//
// A nil *Telemetry is valid everywhere and means "tracing off, metrics not served": components
// built by tests without one keep working.
package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Telemetry is one process's tracer and metrics registry.
type Telemetry struct {
	service string
	sdk     *sdktrace.TracerProvider // nil when tracing is off
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	reg     *prometheus.Registry
	regr    prometheus.Registerer // reg, with the service label on every series

	m      *metrics
	logger *slog.Logger // for what goes wrong at shutdown
}

// Scope is the instrumentation scope of every span Parley starts.
const Scope = "github.com/parleyhq/parley"

// Start sets up service's telemetry from the standard OTEL_* variables and logs one line saying
// what it does. Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (the exporter reads those, OTEL_EXPORTER_OTLP_HEADERS,
// _TIMEOUT and _INSECURE itself), unless OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none.
// OTEL_TRACES_SAMPLER_ARG (0 to 1, default 1) is the share of new traces kept. Call Shutdown when
// the process ends, to send the spans still buffered.
func Start(ctx context.Context, logger *slog.Logger, service string) (*Telemetry, error) {
	endpoint := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if endpoint == "" {
		endpoint = os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	off := endpoint == "" || strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") ||
		os.Getenv("OTEL_TRACES_EXPORTER") == "none"
	if off {
		logger.InfoContext(ctx, "telemetry", slog.Bool("tracing", false), slog.String("metrics", "ADMIN_ADDR /metrics"))
		return New(service, nil), nil
	}
	ratio := 1.0
	if s := os.Getenv("OTEL_TRACES_SAMPLER_ARG"); s != "" {
		r, err := strconv.ParseFloat(s, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG %q: must be a number from 0 to 1", s)
		}
		ratio = r
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP exporter for %s: %w", endpoint, err)
	}
	// The SDK reports export failures (collector down) here; the default prints to stderr.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("telemetry: cannot export spans", slog.Any("error", err))
	}))
	t := build(service, sdktrace.WithBatcher(exp), ratio)
	t.logger = logger
	logger.InfoContext(ctx, "telemetry", slog.Bool("tracing", true), slog.String("otlp_endpoint", endpoint),
		slog.Float64("sampled", ratio), slog.String("metrics", "ADMIN_ADDR /metrics"))
	return t, nil
}

// New returns service's telemetry exporting spans to exporter synchronously, every span as it
// ends (tests pass tracetest's in-memory exporter), or with tracing off when exporter is nil.
func New(service string, exporter sdktrace.SpanExporter) *Telemetry {
	if exporter == nil {
		return build(service, nil, 0)
	}
	return build(service, sdktrace.WithSyncer(exporter), 1)
}

func build(service string, processor sdktrace.TracerProviderOption, ratio float64) *Telemetry {
	reg := prometheus.NewRegistry()
	t := &Telemetry{
		service: service,
		reg:     reg,
		regr:    prometheus.WrapRegistererWith(prometheus.Labels{"service": service}, reg),
	}
	t.regr.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	t.m = newMetrics(t.regr)
	if processor == nil {
		return t
	}
	res, err := resource.Merge(resource.Environment(), resource.NewSchemaless(
		attribute.String("service.name", service), attribute.String("service.namespace", "parley")))
	if err != nil { // only a schema URL conflict, which schemaless resources cannot have
		res = resource.NewSchemaless(attribute.String("service.name", service))
	}
	t.sdk = sdktrace.NewTracerProvider(processor, sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(entrySampler{sdktrace.TraceIDRatioBased(ratio)})))
	t.tracer = t.sdk.Tracer(Scope)
	t.prop = propagation.TraceContext{}
	return t
}

// entrySampler decides for spans without a parent. Only an entry point starts a trace: a server
// span (a request) or a consumer span (an event published without trace context). A client,
// producer or internal span without a parent is background work — the relay polling, a consumer's
// inbox clean-up, a pool's health check — and is dropped, or every second of every process would
// start traces that show nothing a user did.
type entrySampler struct{ ratio sdktrace.Sampler }

func (s entrySampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	switch p.Kind {
	case trace.SpanKindServer, trace.SpanKindConsumer:
		return s.ratio.ShouldSample(p)
	}
	return sdktrace.SamplingResult{Decision: sdktrace.Drop, Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState()}
}

func (s entrySampler) Description() string { return "EntrySpansOnly{" + s.ratio.Description() + "}" }

// Tracing reports whether spans are recorded and exported. Instrumented code checks it first and
// does nothing more when it is false.
func (t *Telemetry) Tracing() bool { return t != nil && t.sdk != nil }

// Service is the service name every series and span carries.
func (t *Telemetry) Service() string {
	if t == nil {
		return ""
	}
	return t.service
}

// Tracer is the tracer Parley's spans come from (a no-op one when tracing is off).
func (t *Telemetry) Tracer() trace.Tracer {
	if !t.Tracing() {
		return noop.NewTracerProvider().Tracer(Scope)
	}
	return t.tracer
}

// TracerProvider is the provider behind Tracer, for libraries that take one.
func (t *Telemetry) TracerProvider() trace.TracerProvider {
	if !t.Tracing() {
		return noop.NewTracerProvider()
	}
	return t.sdk
}

// Propagator is W3C trace context (traceparent, tracestate) when tracing is on, and a propagator
// that carries nothing when it is off.
func (t *Telemetry) Propagator() propagation.TextMapPropagator {
	if !t.Tracing() {
		return propagation.NewCompositeTextMapPropagator()
	}
	return t.prop
}

// Registerer is where a component registers its metrics: every series gets the service label.
// Without telemetry (nil) it is a registry nobody serves, so metrics still work, unseen.
func (t *Telemetry) Registerer() prometheus.Registerer {
	if t == nil {
		return prometheus.NewRegistry()
	}
	return t.regr
}

// Gatherer is the registry MetricsHandler serves (tests read it directly).
func (t *Telemetry) Gatherer() prometheus.Gatherer {
	if t == nil {
		return prometheus.NewRegistry()
	}
	return t.reg
}

// MetricsHandler serves the metrics in the Prometheus text format. It belongs on the admin
// listener only (server.MetricsRoute).
func (t *Telemetry) MetricsHandler() http.Handler {
	if t == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(t.reg, promhttp.HandlerOpts{
		// A collector that fails (the database is down for the outbox gauge) leaves its series
		// out; the rest of the scrape still answers.
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// Shutdown sends the spans still buffered and stops the exporter, within 5 s; what it cannot
// send is logged and lost (run.go defers it: a stopping service does not fail over spans).
func (t *Telemetry) Shutdown() {
	if !t.Tracing() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.sdk.Shutdown(ctx); err != nil && t.logger != nil {
		t.logger.Warn("telemetry: spans lost at shutdown", slog.Any("error", err))
	}
}

// Inject writes ctx's trace context into carrier (nothing when tracing is off or ctx has none).
func (t *Telemetry) Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	if t.Tracing() {
		t.prop.Inject(ctx, carrier)
	}
}

// Extract returns ctx with the remote trace context carrier holds (ctx itself when tracing is off).
func (t *Telemetry) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	if !t.Tracing() {
		return ctx
	}
	return t.prop.Extract(ctx, carrier)
}

// TraceHeaders returns ctx's trace context as record headers (traceparent, tracestate), or nil
// when there is none to carry: events.Outbox.Headers stores them with the event, so the relay can
// put them on the Kafka record and consumers continue the trace of the transaction that wrote it.
// An unsampled context is carried too, so that the event's consumers leave it unsampled as well
// rather than start traces of their own.
func (t *Telemetry) TraceHeaders(ctx context.Context) map[string]string {
	if !t.Tracing() || !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	h := make(map[string]string, 2)
	t.prop.Inject(ctx, propagation.MapCarrier(h))
	return h
}

// TraceID is the trace ctx's span belongs to, for a log line ("" when it is not recorded).
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsSampled() {
		return ""
	}
	return sc.TraceID().String()
}

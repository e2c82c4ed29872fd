package telemetry_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/platform/telemetry"
	"github.com/parleyhq/parley/platform/telemetrytest"
)

const echoProcedure = "/parley.test.v1.TestService/Echo"

// echoServer serves one unary procedure with tel's server interceptor; the call fails NotFound when
// the request header X-Fail is set.
func echoServer(t *testing.T, tel *telemetry.Telemetry, seen func(ctx context.Context)) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(echoProcedure, connect.NewUnaryHandler(echoProcedure,
		func(ctx context.Context, req *connect.Request[emptypb.Empty]) (*connect.Response[emptypb.Empty], error) {
			if seen != nil {
				seen(ctx)
			}
			if req.Header().Get("X-Fail") != "" {
				return nil, connect.NewError(connect.CodeNotFound, errors.New("no such thing"))
			}
			return connect.NewResponse(&emptypb.Empty{}), nil
		}, connect.WithInterceptors(tel.ServerInterceptor())))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// scrape fetches the /metrics text and parses it the way Prometheus (and promtool check metrics)
// does, failing the test on anything it refuses.
func scrape(t *testing.T, tel *telemetry.Telemetry) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(tel.MetricsHandler())
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want the text format", ct)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("the scrape does not parse: %v\n%s", err, body)
	}
	return families
}

// series returns the value of name's series whose labels include want, and whether there is one;
// a histogram's value is its count.
func series(families map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	return telemetrytest.Lookup([]*dto.MetricFamily{families[name]}, name, want)
}

func TestCallsAreMeasuredByProcedureAndCode(t *testing.T) {
	tel := telemetry.New("chat", nil) // tracing off: metrics are collected all the same
	url := echoServer(t, tel, nil)
	client := connect.NewClient[emptypb.Empty, emptypb.Empty](http.DefaultClient, url+echoProcedure)
	for range 3 {
		if _, err := client.CallUnary(context.Background(), connect.NewRequest(&emptypb.Empty{})); err != nil {
			t.Fatal(err)
		}
	}
	req := connect.NewRequest(&emptypb.Empty{})
	req.Header().Set("X-Fail", "1")
	if _, err := client.CallUnary(context.Background(), req); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("failing call: %v, want not_found", err)
	}

	families := scrape(t, tel)
	for code, want := range map[string]float64{"ok": 3, "not_found": 1} {
		got, ok := series(families, telemetry.MetricRPCDuration, map[string]string{"service": "chat", "procedure": echoProcedure, "code": code})
		if !ok || got != want {
			t.Errorf("%s{code=%s}: %v calls (present: %v), want %v", telemetry.MetricRPCDuration, code, got, ok, want)
		}
	}
	if _, ok := series(families, "go_goroutines", map[string]string{"service": "chat"}); !ok {
		t.Error("the Go runtime's series are missing or lack the service label")
	}
}

func TestScrapeTimeSourcesAnswerAtEachScrape(t *testing.T) {
	tel := telemetry.New("notification", nil)
	n := 0.0
	tel.Watch(telemetry.MetricEmailQueue, "Emails by state.", false, []string{"state"}, func(context.Context) ([]telemetry.Sample, error) {
		n++
		return []telemetry.Sample{{Value: n, Labels: []string{"pending"}}}, nil
	})
	tel.Watch(telemetry.MetricEmailOldest, "Oldest email.", false, nil, func(context.Context) ([]telemetry.Sample, error) {
		return nil, errors.New("database down")
	})
	for want := 1.0; want <= 2; want++ {
		families := scrape(t, tel)
		if got, _ := series(families, telemetry.MetricEmailQueue, map[string]string{"state": "pending", "service": "notification"}); got != want {
			t.Errorf("scrape %v: %s = %v, want %v", want, telemetry.MetricEmailQueue, got, want)
		}
		if _, ok := families[telemetry.MetricEmailOldest]; ok {
			t.Errorf("a failing source's family was served")
		}
	}
}

func TestWatchTogetherReadsOnceAScrapeForAllItsFamilies(t *testing.T) {
	tel := telemetry.New("chat", nil)
	readings := 0
	tel.WatchTogether([]telemetry.Family{
		{Name: telemetry.MetricOutboxPending, Help: "Pending."},
		{Name: telemetry.MetricOutboxOldestAge, Help: "Oldest."},
	}, func(context.Context) ([][]telemetry.Sample, error) {
		readings++
		n := float64(readings)
		return [][]telemetry.Sample{{{Value: n}}, {{Value: 10 * n}}}, nil
	})
	tel.WatchTogether([]telemetry.Family{
		{Name: telemetry.MetricEmailQueue, Help: "Queue.", Labels: []string{"state"}},
		{Name: telemetry.MetricEmailOldest, Help: "Oldest."},
	}, func(context.Context) ([][]telemetry.Sample, error) {
		return nil, errors.New("database down")
	})
	for want := 1.0; want <= 2; want++ {
		families := scrape(t, tel)
		if readings != int(want) {
			t.Fatalf("after scrape %v the source was read %d times, want once a scrape", want, readings)
		}
		service := map[string]string{"service": "chat"}
		if got, _ := series(families, telemetry.MetricOutboxPending, service); got != want {
			t.Errorf("scrape %v: %s = %v, want %v", want, telemetry.MetricOutboxPending, got, want)
		}
		if got, _ := series(families, telemetry.MetricOutboxOldestAge, service); got != 10*want {
			t.Errorf("scrape %v: %s = %v, want %v", want, telemetry.MetricOutboxOldestAge, got, 10*want)
		}
		for _, name := range []string{telemetry.MetricEmailQueue, telemetry.MetricEmailOldest} {
			if _, ok := families[name]; ok {
				t.Errorf("%s served from a failing source", name)
			}
		}
	}
}

func TestTraceContinuesFromClientToServer(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tel := telemetry.New("chat", spans)
	var serverTrace trace.SpanContext
	url := echoServer(t, tel, func(ctx context.Context) { serverTrace = trace.SpanContextFromContext(ctx) })
	client := connect.NewClient[emptypb.Empty, emptypb.Empty](tel.HTTPClient(http.DefaultClient), url+echoProcedure)

	ctx, root := tel.Tracer().Start(context.Background(), "request", trace.WithSpanKind(trace.SpanKindServer))
	if _, err := client.CallUnary(ctx, connect.NewRequest(&emptypb.Empty{})); err != nil {
		t.Fatal(err)
	}
	root.End()

	var client1, serverSpan tracetest.SpanStub
	for _, s := range spans.GetSpans() {
		switch {
		case s.SpanKind == trace.SpanKindClient:
			client1 = s
		case s.SpanKind == trace.SpanKindServer && s.Name != "request":
			serverSpan = s
		}
	}
	if client1.Name != strings.TrimPrefix(echoProcedure, "/") {
		t.Fatalf("client span %q, want the procedure; spans %v", client1.Name, spans.GetSpans())
	}
	if serverTrace.TraceID() != root.SpanContext().TraceID() {
		t.Errorf("the handler ran in trace %s, want the caller's %s", serverTrace.TraceID(), root.SpanContext().TraceID())
	}
	if client1.Parent.SpanID() != root.SpanContext().SpanID() {
		t.Errorf("client span's parent %s, want the request %s", client1.Parent.SpanID(), root.SpanContext().SpanID())
	}
	if serverSpan.Parent.SpanID() != client1.SpanContext.SpanID() || !serverSpan.Parent.IsRemote() {
		t.Errorf("server span's parent %v, want the client span %s, remote", serverSpan.Parent, client1.SpanContext.SpanID())
	}
}

func TestBackgroundWorkStartsNoTrace(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tel := telemetry.New("chat", spans)
	for _, kind := range []trace.SpanKind{trace.SpanKindClient, trace.SpanKindProducer, trace.SpanKindInternal} {
		_, span := tel.Tracer().Start(context.Background(), "background", trace.WithSpanKind(kind))
		if span.IsRecording() {
			t.Errorf("a %v span without a parent is recorded", kind)
		}
		span.End()
	}
	for _, kind := range []trace.SpanKind{trace.SpanKindServer, trace.SpanKindConsumer} {
		_, span := tel.Tracer().Start(context.Background(), "entry", trace.WithSpanKind(kind))
		if !span.IsRecording() {
			t.Errorf("a %v span without a parent is not recorded: entry points start traces", kind)
		}
		span.End()
	}
}

func TestTracingOffCarriesNothing(t *testing.T) {
	tel := telemetry.New("chat", nil)
	if tel.Tracing() {
		t.Fatal("tracing on without an exporter")
	}
	ctx, span := tel.Tracer().Start(context.Background(), "x", trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	if h := tel.TraceHeaders(ctx); h != nil {
		t.Errorf("TraceHeaders = %v with tracing off", h)
	}
	carrier := propagation.MapCarrier{}
	tel.Propagator().Inject(ctx, carrier)
	if len(carrier) != 0 {
		t.Errorf("the propagator wrote %v with tracing off", carrier)
	}
	var nilTel *telemetry.Telemetry
	nilTel.ObserveRPC("/x/y", "ok", time.Millisecond) // a nil Telemetry is valid everywhere
	if nilTel.Tracing() {
		t.Error("a nil Telemetry traces")
	}
}

func TestStatementsAreTracedOnlyInsideATrace(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tel := telemetry.New("chat", spans)
	pool, err := pg.Open(context.Background(), pgtest.URL(t, pgtest.New(t)), 0, tel.ConfigurePool)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	tel.ObservePool(pool)

	if _, err := pool.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	ctx, root := tel.Tracer().Start(context.Background(), "request", trace.WithSpanKind(trace.SpanKindServer))
	if _, err := pool.Exec(ctx, "SELECT 2"); err != nil {
		t.Fatal(err)
	}
	root.End()
	var stmts []tracetest.SpanStub
	for _, s := range spans.GetSpans() {
		if s.Name == "postgres SELECT" {
			stmts = append(stmts, s)
		}
	}
	if len(stmts) != 1 || stmts[0].Parent.SpanID() != root.SpanContext().SpanID() {
		t.Fatalf("statement spans %v, want one, the request's child", stmts)
	}

	families := scrape(t, tel)
	if got, _ := series(families, telemetry.MetricDBPoolAcquires, nil); got < 2 {
		t.Errorf("%s = %v after two statements, want ≥ 2", telemetry.MetricDBPoolAcquires, got)
	}
	if got, ok := series(families, telemetry.MetricDBPoolConnections, map[string]string{"state": "idle"}); !ok || got < 1 {
		t.Errorf("%s{state=idle} = %v (present %v), want ≥ 1", telemetry.MetricDBPoolConnections, got, ok)
	}
}

// An event written under an unsampled trace carries that decision, so its consumers do not start
// traces of their own for it.
func TestUnsampledContextIsCarriedAsUnsampled(t *testing.T) {
	tel := telemetry.New("chat", tracetest.NewInMemoryExporter())
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, Remote: true, // flags 00: not sampled
	})
	ctx, span := tel.Tracer().Start(trace.ContextWithRemoteSpanContext(context.Background(), sc), "handler",
		trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	if span.IsRecording() {
		t.Fatal("a span under an unsampled parent is recorded")
	}
	tp := tel.TraceHeaders(ctx)["traceparent"]
	if !strings.HasPrefix(tp, "00-01020300000000000000000000000000-") || !strings.HasSuffix(tp, "-00") {
		t.Errorf("traceparent %q, want the parent's trace, not sampled", tp)
	}
	if tel.TraceHeaders(context.Background()) != nil {
		t.Error("trace headers without any trace")
	}
}

// Redis commands get client spans inside a trace — one per command, one per pipeline, an error
// recorded, a missing key not — and none outside one; with tracing off the client is returned as
// it was.
func TestRedisCommandsAreTracedOnlyInsideATrace(t *testing.T) {
	raw := redistest.New(t)
	if off := telemetry.New("gateway", nil); off.Redis(raw) != raw {
		t.Error("with tracing off Redis wrapped the client")
	}
	spans := tracetest.NewInMemoryExporter()
	tel := telemetry.New("gateway", spans)
	client := tel.Redis(raw)
	key := "telemetry-test:" + uuid.NewString()
	t.Cleanup(func() { raw.Do(context.Background(), raw.B().Del().Key(key).Build()) })

	if err := client.Do(context.Background(), client.B().Set().Key(key).Value("v").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	ctx, root := tel.Tracer().Start(context.Background(), "request", trace.WithSpanKind(trace.SpanKindServer))
	if err := client.Do(ctx, client.B().Get().Key(key).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if err := client.Do(ctx, client.B().Get().Key(key+":missing").Build()).Error(); !rueidis.IsRedisNil(err) {
		t.Fatalf("GET of a missing key: %v", err)
	}
	for _, r := range client.DoMulti(ctx, client.B().Incr().Key(key+":n").Build(), client.B().Del().Key(key+":n").Build()) {
		if err := r.Error(); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Do(ctx, client.B().Incr().Key(key).Build()).Error(); err == nil {
		t.Fatal("INCR of a string answered without an error")
	}
	if err := client.DoCache(ctx, client.B().Get().Key(key).Cache(), time.Minute).Error(); err != nil {
		t.Fatal(err)
	}
	root.End()

	type got struct {
		name, op string
		batch    int64
		failed   bool
	}
	var traced []got
	for _, s := range spans.GetSpans() {
		if s.Name == "request" {
			continue
		}
		if s.Parent.SpanID() != root.SpanContext().SpanID() || s.SpanKind != trace.SpanKindClient {
			t.Errorf("span %q: parent %v kind %v, want the request's client child", s.Name, s.Parent.SpanID(), s.SpanKind)
		}
		g := got{name: s.Name, failed: s.Status.Code == codes.Error}
		for _, a := range s.Attributes {
			switch a.Key {
			case "db.operation.name":
				g.op = a.Value.AsString()
			case "db.operation.batch.size":
				g.batch = a.Value.AsInt64()
			case "db.system.name":
				if a.Value.AsString() != "redis" {
					t.Errorf("span %q: db.system.name %q", s.Name, a.Value.AsString())
				}
			}
		}
		traced = append(traced, g)
	}
	want := []got{
		{name: "redis GET", op: "GET"},
		{name: "redis GET", op: "GET"},
		{name: "redis pipeline", op: "INCR", batch: 2},
		{name: "redis INCR", op: "INCR", failed: true},
		{name: "redis GET", op: "GET"},
	}
	if !slices.Equal(traced, want) {
		t.Errorf("redis spans\n got %+v\nwant %+v (the SET outside the trace: none)", traced, want)
	}
}

package events_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/platform/telemetry"
	"github.com/parleyhq/parley/platform/telemetrytest"
	"github.com/parleyhq/parley/platform/waittest"
)

// TestTraceCrossesTheOutbox follows one event from the request that wrote it to the consumer that
// applied it: the trace context stored with the outbox row, the relay's producer span, the
// record's headers, the consumer's processing span and the handler's statement all belong to the
// request's trace, parent after parent.
func TestTraceCrossesTheOutbox(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tel := telemetry.New("test", spans)
	// A pool of its own on the test's database, traced as a service's is (events.OpenDatabase).
	traced, err := pg.Open(context.Background(), pgtest.URL(t, newDB(t)), 0, tel.ConfigurePool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(traced.Close)
	pool := traced
	_, brokers := kafkatest.New(t)
	logger, _ := testLogger(t)
	const topic = "traced.v1"

	out := events.NewOutbox("test")
	out.Headers = tel.TraceHeaders
	ctx, request := tel.Tracer().Start(context.Background(), "request", trace.WithSpanKind(trace.SpanKindServer))
	err = pg.InTx(ctx, pool, func(tx pgx.Tx) error {
		_, err := out.Publish(ctx, tx, topic, "k", wrapperspb.String("traced"))
		return err
	})
	request.End()
	if err != nil {
		t.Fatal(err)
	}
	// An event written outside any trace is published and applied without spans of its own.
	publish(t, pool, out, topic, "k", wrapperspb.String("untraced"))

	waittest.Go(t, newRelay(t, events.RelayConfig{Pool: pool, Brokers: brokers, Logger: logger, Telemetry: tel}).Run)
	c := newConsumer(t, events.ConsumerConfig{Brokers: brokers, Group: "traced", Topics: []string{topic}, Pool: pool,
		Logger: logger, Telemetry: tel})
	events.On(c, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *wrapperspb.StringValue) error {
		return writeEffect(ctx, tx, ev, msg)
	})
	waittest.Go(t, c.Run)
	eventually(t, "both events applied", func() bool { return len(effects(t, pool)) == 2 })

	all := spans.GetSpans()
	req := findSpan(t, all, "the request", func(s tracetest.SpanStub) bool { return s.Name == "request" })
	pub := findSpan(t, all, "a producer span", func(s tracetest.SpanStub) bool { return s.Name == topic+" publish" })
	proc := findSpan(t, all, "the traced event's processing span", func(s tracetest.SpanStub) bool {
		return s.Name == topic+" process" && s.SpanContext.TraceID() == req.SpanContext.TraceID()
	})
	stmt := findSpan(t, all, "the handler's statement", func(s tracetest.SpanStub) bool {
		return strings.Contains(attr(s, "db.query.text"), "INSERT INTO effects") && s.SpanContext.TraceID() == req.SpanContext.TraceID()
	})
	findSpan(t, all, "the outbox insert in the request's trace", func(s tracetest.SpanStub) bool {
		return strings.Contains(attr(s, "db.query.text"), "INTO outbox") && s.Parent.SpanID() == req.SpanContext.SpanID()
	})
	traceID := req.SpanContext.TraceID()
	for _, s := range []tracetest.SpanStub{pub, proc, stmt} {
		if s.SpanContext.TraceID() != traceID {
			t.Errorf("span %q is in trace %s, want the request's %s", s.Name, s.SpanContext.TraceID(), traceID)
		}
	}
	if pub.Parent.SpanID() != req.SpanContext.SpanID() {
		t.Errorf("producer span's parent is %s, want the request %s", pub.Parent.SpanID(), req.SpanContext.SpanID())
	}
	if proc.Parent.SpanID() != pub.SpanContext.SpanID() {
		t.Errorf("processing span's parent is %s, want the producer span %s", proc.Parent.SpanID(), pub.SpanContext.SpanID())
	}
	if stmt.Parent.SpanID() != proc.SpanContext.SpanID() {
		t.Errorf("statement span's parent is %s, want the processing span %s", stmt.Parent.SpanID(), proc.SpanContext.SpanID())
	}
	// Only the traced event has a producer span; the untraced one started a trace of its own at
	// the consumer (an entry point), nowhere else.
	producers, processes := 0, 0
	for _, s := range spans.GetSpans() {
		switch s.Name {
		case topic + " publish":
			producers++
		case topic + " process":
			processes++
		}
	}
	if producers != 1 || processes != 2 {
		t.Errorf("%d producer and %d processing spans, want 1 and 2", producers, processes)
	}
}

// TestRelayAndConsumerMetricsMove checks the outbox and consumer series move as events flow and
// one is dead-lettered, read from the registry /metrics serves.
func TestRelayAndConsumerMetricsMove(t *testing.T) {
	pool := newDB(t)
	_, brokers := kafkatest.New(t)
	logger, _ := testLogger(t)
	tel := telemetry.New("test", nil)
	const topic = "measured.v1"
	out := events.NewOutbox("test")
	for _, v := range []string{"a", "b", "poison"} {
		publish(t, pool, out, topic, "k", wrapperspb.String(v))
	}
	relay := newRelay(t, events.RelayConfig{Pool: pool, Brokers: brokers, Logger: logger, Telemetry: tel})
	if got := gauge(t, tel, telemetry.MetricOutboxPending, nil); got != 3 {
		t.Errorf("%s = %v before the relay ran, want 3", telemetry.MetricOutboxPending, got)
	}
	if got := gauge(t, tel, telemetry.MetricOutboxOldestAge, nil); got <= 0 {
		t.Errorf("%s = %v with events waiting, want > 0", telemetry.MetricOutboxOldestAge, got)
	}
	waittest.Go(t, relay.Run)
	c := newConsumer(t, events.ConsumerConfig{Brokers: brokers, Group: "measured", Topics: []string{topic}, Pool: pool,
		Logger: logger, Telemetry: tel, MaxAttempts: 2, RetryBackoff: 10 * time.Millisecond})
	events.On(c, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *wrapperspb.StringValue) error {
		if msg.GetValue() == "poison" {
			return errors.New("cannot apply this one")
		}
		return writeEffect(ctx, tx, ev, msg)
	})
	waittest.Go(t, c.Run)
	group := map[string]string{"group": "measured"}
	eventually(t, "two events applied and one dead-lettered", func() bool {
		return gauge(t, tel, telemetry.MetricConsumerHandled, group) == 2 &&
			gauge(t, tel, telemetry.MetricConsumerDeadLettered, map[string]string{"group": "measured", "topic": topic}) == 1
	})
	if got := gauge(t, tel, telemetry.MetricOutboxPublished, nil); got != 3 {
		t.Errorf("%s = %v, want 3", telemetry.MetricOutboxPublished, got)
	}
	if got := gauge(t, tel, telemetry.MetricOutboxPending, nil); got != 0 {
		t.Errorf("%s = %v after publishing, want 0", telemetry.MetricOutboxPending, got)
	}
	if got := gauge(t, tel, telemetry.MetricConsumerRetries, map[string]string{"group": "measured", "reason": "failed"}); got < 1 {
		t.Errorf("%s{reason=failed} = %v, want ≥ 1", telemetry.MetricConsumerRetries, got)
	}
	eventually(t, "the group's lag reported and back to 0", func() bool {
		v, ok := lookup(t, tel, telemetry.MetricConsumerLag, map[string]string{"group": "measured", "topic": topic})
		return ok && v == 0
	})
	for _, name := range []string{telemetry.MetricDBPoolConnections, telemetry.MetricDBPoolAcquires} {
		if _, ok := lookup(t, tel, name, nil); ok {
			t.Errorf("%s reported for a pool nobody asked to observe", name)
		}
	}
}

// gauge is the value of the series of name whose labels include want (0 when there is none).
func gauge(t *testing.T, tel *telemetry.Telemetry, name string, want map[string]string) float64 {
	v, _ := lookup(t, tel, name, want)
	return v
}

func lookup(t *testing.T, tel *telemetry.Telemetry, name string, want map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := tel.Gatherer().Gather()
	if err != nil {
		t.Logf("gather: %v", err) // a failing source leaves its series out; the rest is read
	}
	return telemetrytest.Lookup(mfs, name, want)
}

// findSpan returns the first span that matches, failing the test with every span's name when none does.
func findSpan(t *testing.T, spans tracetest.SpanStubs, what string, match func(tracetest.SpanStub) bool) tracetest.SpanStub {
	t.Helper()
	for _, s := range spans {
		if match(s) {
			return s
		}
	}
	t.Fatalf("no span: %s; spans: %v", what, names(spans))
	return tracetest.SpanStub{}
}

func attr(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.String()
		}
	}
	return ""
}

func names(spans tracetest.SpanStubs) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}

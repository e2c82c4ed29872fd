package telemetry

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// ConfigurePool prepares a pool's configuration before it connects (pg.Open's configure): with
// tracing on, statements run inside a traced request or event get a span each (a batch one span,
// its statements as events). Statements outside any trace — the relay's polling, clean-ups —
// get none.
func (t *Telemetry) ConfigurePool(cfg *pgxpool.Config) {
	if t.Tracing() {
		cfg.ConnConfig.Tracer = pgTracer{t: t, db: cfg.ConnConfig.Database}
	}
}

// ObservePool publishes pool's statistics (MetricDBPool…), read from the pool at each scrape.
func (t *Telemetry) ObservePool(pool *pgxpool.Pool) {
	gauge := func(name, help string, labels []string, f func(*pgxpool.Stat) []Sample) {
		t.Watch(name, help, false, labels, func(context.Context) ([]Sample, error) { return f(pool.Stat()), nil })
	}
	counter := func(name, help string, f func(*pgxpool.Stat) float64) {
		t.Watch(name, help, true, nil, func(context.Context) ([]Sample, error) {
			return []Sample{{Value: f(pool.Stat())}}, nil
		})
	}
	gauge(MetricDBPoolConnections, "Postgres pool connections by state.", []string{"state"}, func(s *pgxpool.Stat) []Sample {
		return []Sample{
			{Value: float64(s.AcquiredConns()), Labels: []string{"acquired"}},
			{Value: float64(s.IdleConns()), Labels: []string{"idle"}},
			{Value: float64(s.ConstructingConns()), Labels: []string{"constructing"}},
		}
	})
	gauge(MetricDBPoolMax, "The Postgres pool's maximum size.", nil, func(s *pgxpool.Stat) []Sample {
		return []Sample{{Value: float64(s.MaxConns())}}
	})
	counter(MetricDBPoolAcquires, "Connections taken from the Postgres pool.", func(s *pgxpool.Stat) float64 { return float64(s.AcquireCount()) })
	counter(MetricDBPoolEmpty, "Acquires that found no idle connection and waited for one.", func(s *pgxpool.Stat) float64 { return float64(s.EmptyAcquireCount()) })
	counter(MetricDBPoolAcquireWait, "Time spent acquiring Postgres connections.", func(s *pgxpool.Stat) float64 { return s.AcquireDuration().Seconds() })
}

// pgTracer is pgx's tracer hooks. It starts a span only under a recording parent, and remembers
// its own span in the context (pgSpanKey) so that the end hook never ends the parent's.
type pgTracer struct {
	t  *Telemetry
	db string
}

type pgSpanKey struct{}

// maxSQL bounds the statement text a span carries: chat's send statement is 3 KB.
const maxSQL = 2048

func (p pgTracer) start(ctx context.Context, name, sql string) context.Context {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx
	}
	if len(sql) > maxSQL {
		sql = sql[:maxSQL]
	}
	ctx, span := p.t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("db.system.name", "postgresql"),
		attribute.String("db.namespace", p.db),
		attribute.String("db.query.text", sql),
	))
	return context.WithValue(ctx, pgSpanKey{}, span)
}

func end(ctx context.Context, err error) {
	span, ok := ctx.Value(pgSpanKey{}).(trace.Span)
	if !ok {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "statement failed")
	}
	span.End()
}

func (p pgTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return p.start(ctx, "postgres "+operation(data.SQL), data.SQL)
}

func (p pgTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	end(ctx, data.Err)
}

func (p pgTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	var sql string
	if data.Batch != nil {
		// The batch's longest statement says what it is for (chat's send, the relay's take).
		for _, q := range data.Batch.QueuedQueries {
			if len(q.SQL) > len(sql) {
				sql = q.SQL
			}
		}
	}
	return p.start(ctx, "postgres batch", sql)
}

func (p pgTracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	span, ok := ctx.Value(pgSpanKey{}).(trace.Span)
	if !ok {
		return
	}
	attrs := []attribute.KeyValue{attribute.String("db.operation.name", operation(data.SQL))}
	if data.Err != nil {
		attrs = append(attrs, attribute.String("error", data.Err.Error()))
	}
	span.AddEvent("statement", trace.WithAttributes(attrs...))
}

func (p pgTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	end(ctx, data.Err)
}

// operation is a statement's first word (SELECT, INSERT, WITH, BEGIN), a bounded span name.
func operation(sql string) string {
	sql = strings.TrimSpace(sql)
	if i := strings.IndexAny(sql, " \t\n("); i > 0 {
		sql = sql[:i]
	}
	if len(sql) > 16 {
		sql = sql[:16]
	}
	return strings.ToUpper(sql)
}

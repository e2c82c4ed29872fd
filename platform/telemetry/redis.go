package telemetry

import (
	"context"
	"time"

	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Redis returns client with its commands traced: with tracing on, a command run inside a traced
// request or event gets a client span ("redis SET", "redis EVALSHA"), a pipeline one span
// ("redis pipeline", with its size and first command). Commands outside any trace — the
// gateway's subscription, clean-ups — get none, as Postgres statements get none (ConfigurePool).
// With tracing off it returns client itself: the hot path pays nothing.
//
// Written here because rueidis' own rueidisotel and rueidishook are separate modules this
// project's module proxy does not serve. Subscriptions (Receive) and dedicated connections are
// passed through untraced: they live as long as the process.
func (t *Telemetry) Redis(client rueidis.Client) rueidis.Client {
	if !t.Tracing() || client == nil {
		return client
	}
	return tracedRedis{Client: client, t: t}
}

type tracedRedis struct {
	rueidis.Client
	t *Telemetry
}

func (r tracedRedis) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	ctx, span := r.start(ctx, commandName(cmd.Commands()), 1)
	res := r.Client.Do(ctx, cmd)
	endRedis(span, res.Error())
	return res
}

func (r tracedRedis) DoCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult {
	ctx, span := r.start(ctx, commandName(cmd.Commands()), 1)
	res := r.Client.DoCache(ctx, cmd, ttl)
	if span != nil {
		span.SetAttributes(attribute.Bool("parley.redis.cache_hit", res.IsCacheHit()))
	}
	endRedis(span, res.Error())
	return res
}

func (r tracedRedis) DoMulti(ctx context.Context, multi ...rueidis.Completed) []rueidis.RedisResult {
	first := ""
	if len(multi) > 0 {
		first = commandName(multi[0].Commands())
	}
	ctx, span := r.start(ctx, first, len(multi))
	res := r.Client.DoMulti(ctx, multi...)
	if span != nil {
		endRedis(span, firstError(res))
	}
	return res
}

func (r tracedRedis) DoMultiCache(ctx context.Context, multi ...rueidis.CacheableTTL) []rueidis.RedisResult {
	first := ""
	if len(multi) > 0 {
		first = commandName(multi[0].Cmd.Commands())
	}
	ctx, span := r.start(ctx, first, len(multi))
	res := r.Client.DoMultiCache(ctx, multi...)
	if span != nil {
		endRedis(span, firstError(res))
	}
	return res
}

// start begins a span for n commands, the first named command, under a recording parent only;
// nil otherwise. The command's arguments (keys, values) stay out of the span: they hold user and
// session ids.
func (r tracedRedis) start(ctx context.Context, command string, n int) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	name := "redis " + command
	attrs := []attribute.KeyValue{
		attribute.String("db.system.name", "redis"),
		attribute.String("db.operation.name", command),
	}
	if n > 1 {
		name = "redis pipeline"
		attrs = append(attrs, attribute.Int("db.operation.batch.size", n))
	}
	return r.t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// endRedis ends span (nil: no span was started) with err, the command's or the pipeline's first.
func endRedis(span trace.Span, err error) {
	if span == nil {
		return
	}
	// A missing key is an answer, not a failure.
	if err != nil && !rueidis.IsRedisNil(err) {
		span.RecordError(err)
		span.SetStatus(codes.Error, "redis command failed")
	}
	span.End()
}

func commandName(words []string) string {
	if len(words) == 0 {
		return ""
	}
	return words[0]
}

func firstError(results []rueidis.RedisResult) error {
	for _, r := range results {
		if err := r.Error(); err != nil && !rueidis.IsRedisNil(err) {
			return err
		}
	}
	return nil
}

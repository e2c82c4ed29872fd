package events

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/parleyhq/parley/platform/telemetry"
)

// Trace context crosses the outbox like this: Outbox.Headers (telemetry.TraceHeaders) stores the
// writing transaction's traceparent with the event row (the outbox's headers column); the relay
// starts a producer span as its child and puts that span's traceparent on the Kafka record beside
// the CloudEvents headers; a consumer starts its processing span as the child of the record's, so
// the handler's statements, and whatever it publishes in turn, stay in the trace of the request
// that caused the event. Rows without trace context (tracing off where they were written) are
// published without spans: the relay's own polling is not a trace.

// startPublish starts the producer span of a row that carries trace context and writes the span's
// context over the row's; nil when there is nothing to trace.
func startPublish(tel *telemetry.Telemetry, o *outboxRow) trace.Span {
	if !tel.Tracing() || o.headers["traceparent"] == "" {
		return nil
	}
	ctx := tel.Extract(context.Background(), propagation.MapCarrier(o.headers))
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	ctx, span := tel.Tracer().Start(ctx, o.topic+" publish", trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		attribute.String("messaging.system", "kafka"),
		attribute.String("messaging.operation.type", "send"),
		attribute.String("messaging.destination.name", o.topic),
		attribute.String("messaging.message.id", o.eventID),
		attribute.String("parley.event.type", o.ceType),
	))
	tel.Inject(ctx, propagation.MapCarrier(o.headers))
	return span
}

// endSpans ends the relay's producer spans once Kafka has answered.
func endSpans(spans []trace.Span, err error) {
	for _, s := range spans {
		if err != nil {
			s.RecordError(err)
			s.SetStatus(codes.Error, "publish failed")
		}
		s.End()
	}
}

// startProcess starts the span of applying ev in group, a child of the trace context the record
// carries (a root, when it carries none: the sampler lets consumer spans start traces).
func startProcess(ctx context.Context, tel *telemetry.Telemetry, group string, ev Event) (context.Context, trace.Span) {
	ctx = tel.Extract(ctx, propagation.MapCarrier(ev.Headers))
	return tel.Tracer().Start(ctx, ev.Topic+" process", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		attribute.String("messaging.system", "kafka"),
		attribute.String("messaging.operation.type", "process"),
		attribute.String("messaging.destination.name", ev.Topic),
		attribute.String("messaging.consumer.group.name", group),
		attribute.String("messaging.destination.partition.id", strconv.Itoa(int(ev.Partition))),
		attribute.Int64("messaging.kafka.offset", ev.Offset),
		attribute.String("messaging.message.id", ev.ID),
		attribute.String("parley.event.type", ev.Type),
	))
}

// endProcess ends a processing span with the handler's outcome.
func endProcess(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "handler failed")
	}
	span.End()
}

package telemetry

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/parleyhq/parley/platform/logging"
)

// ServerInterceptor measures every call a service's Connect handlers serve (MetricRPCDuration)
// and, with tracing on, gives it a server span that continues the caller's trace (the
// traceparent header: the callers are the gateway and other services) and adds the trace id to
// the request's log line. server.HandlerOptions puts it outside authentication, so refused calls
// count too, and inside the error translation, so codes are the ones callers see.
func (t *Telemetry) ServerInterceptor() connect.Interceptor { return serverInterceptor{t} }

type serverInterceptor struct{ t *Telemetry }

func (i serverInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		start := time.Now()
		var span trace.Span
		if i.t.Tracing() {
			ctx, span = i.t.startServer(ctx, req.Spec().Procedure, req.Header(), req.Peer().Protocol)
		}
		res, err := next(ctx, req)
		code := CodeName(err)
		i.t.ObserveRPC(req.Spec().Procedure, code, time.Since(start))
		if span != nil {
			endRPC(span, code, err)
		}
		return res, err
	}
}

func (i serverInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i serverInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		var span trace.Span
		if i.t.Tracing() {
			ctx, span = i.t.startServer(ctx, conn.Spec().Procedure, conn.RequestHeader(), conn.Peer().Protocol)
		}
		err := next(ctx, conn)
		code := CodeName(err)
		i.t.ObserveRPC(conn.Spec().Procedure, code, time.Since(start))
		if span != nil {
			endRPC(span, code, err)
		}
		return err
	}
}

// startServer starts a call's server span as a child of the caller's trace context.
func (t *Telemetry) startServer(ctx context.Context, procedure string, h http.Header, protocol string) (context.Context, trace.Span) {
	ctx = t.prop.Extract(ctx, propagation.HeaderCarrier(h))
	ctx, span := t.tracer.Start(ctx, strings.TrimPrefix(procedure, "/"), trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(rpcAttrs(procedure, protocol)...))
	if id := TraceID(ctx); id != "" {
		logging.AddAttrs(ctx, slog.String("trace_id", id))
	}
	return ctx, span
}

// HTTPClient wraps the HTTP client a service calls its peers with (a <peer>client package's
// connect.HTTPClient): with tracing on, each call made inside a trace gets a client span named
// after its procedure (the URL's path) and carries its context to the callee in traceparent.
// With tracing off it returns c itself.
func (t *Telemetry) HTTPClient(c connect.HTTPClient) connect.HTTPClient {
	if !t.Tracing() {
		return c
	}
	return tracedClient{t: t, next: c}
}

type tracedClient struct {
	t    *Telemetry
	next connect.HTTPClient
}

func (c tracedClient) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if !trace.SpanFromContext(ctx).IsRecording() {
		return c.next.Do(req)
	}
	procedure := req.URL.Path
	ctx, span := c.t.tracer.Start(ctx, strings.TrimPrefix(procedure, "/"), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(rpcAttrs(procedure, req.Header.Get("Content-Type"))...))
	req = req.WithContext(ctx)
	c.t.prop.Inject(ctx, propagation.HeaderCarrier(req.Header))
	res, err := c.next.Do(req)
	switch {
	case err != nil:
		span.RecordError(err)
		span.SetStatus(codes.Error, "call failed")
	case res.StatusCode >= 500:
		span.SetStatus(codes.Error, res.Status)
	}
	if res != nil {
		span.SetAttributes(attribute.Int("http.response.status_code", res.StatusCode))
	}
	// The span ends with the response's headers: a gRPC call's status comes in its trailers, which
	// the caller reads later; the callee's own span records it.
	span.End()
	return res, err
}

// CodeName is the code a call ended with, as metrics and logs spell it: "ok" or the Connect
// code's name ("invalid_argument").
func CodeName(err error) string {
	if err == nil {
		return "ok"
	}
	return connect.CodeOf(err).String()
}

// rpcAttrs are a call's span attributes; protocol is Connect's name for it on the server, the
// request's Content-Type on the client.
func rpcAttrs(procedure, protocol string) []attribute.KeyValue {
	svc, method, _ := strings.Cut(strings.TrimPrefix(procedure, "/"), "/")
	return []attribute.KeyValue{
		attribute.String("rpc.system", "connect_rpc"),
		attribute.String("rpc.service", svc),
		attribute.String("rpc.method", method),
		attribute.String("rpc.protocol", protocol),
	}
}

// endRPC ends a server span, marked failed only for codes that are the server's fault.
func endRPC(span trace.Span, code string, err error) {
	if err != nil {
		span.SetAttributes(attribute.String("rpc.connect_rpc.error_code", code))
		if serverFault(connect.CodeOf(err)) {
			span.SetStatus(codes.Error, code)
		}
	}
	span.End()
}

func serverFault(c connect.Code) bool {
	switch c {
	case connect.CodeUnknown, connect.CodeDeadlineExceeded, connect.CodeUnimplemented, connect.CodeInternal,
		connect.CodeUnavailable, connect.CodeDataLoss:
		return true
	}
	return false
}

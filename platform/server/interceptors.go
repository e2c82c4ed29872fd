package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/logging"
)

// ErrorCode maps a domain error kind to the Connect code it means. DefaultErrorCodes covers the
// standard kinds; a service lists only what differs (kinds of its own) in its rpc package's
// errors.go and passes them to HandlerOptions.
type ErrorCode struct {
	Err  error
	Code connect.Code
}

// DefaultErrorCodes maps each standard domainerr kind to the Connect code of the same name. It
// applies to every service, after the service's own codes.
var DefaultErrorCodes = []ErrorCode{
	{Err: domainerr.ErrInvalidArgument, Code: connect.CodeInvalidArgument},
	{Err: domainerr.ErrNotFound, Code: connect.CodeNotFound},
	{Err: domainerr.ErrAlreadyExists, Code: connect.CodeAlreadyExists},
	{Err: domainerr.ErrPermissionDenied, Code: connect.CodePermissionDenied},
	{Err: domainerr.ErrFailedPrecondition, Code: connect.CodeFailedPrecondition},
	{Err: domainerr.ErrResourceExhausted, Code: connect.CodeResourceExhausted},
	{Err: domainerr.ErrUnauthenticated, Code: connect.CodeUnauthenticated},
	{Err: domainerr.ErrUnavailable, Code: connect.CodeUnavailable},
}

// CompressMinBytes is the smallest response body a handler compresses.
const CompressMinBytes = 1024

// HandlerOptions returns the options every Connect handler of a service is built with: request
// logging, panic recovery, the service's extra interceptors (authentication) and the translation
// of domain errors to Connect codes: codes (the service's own kinds, nil for none) first, then
// DefaultErrorCodes. An error that maps to nothing becomes Internal with a generic message; its
// cause is logged, never sent.
func HandlerOptions(logger *slog.Logger, codes []ErrorCode, interceptors ...connect.Interceptor) []connect.HandlerOption {
	all := append([]connect.Interceptor{requestLogger{logger}}, interceptors...)
	all = append(all, errorMapper{logger: logger, codes: append(slices.Clip(codes), DefaultErrorCodes...)})
	return []connect.HandlerOption{
		connect.WithInterceptors(all...),
		// Small messages go uncompressed even to clients that accept gzip: resetting a gzip
		// writer costs more CPU (tens of µs) than a few hundred bytes cost to send, and a typical
		// response (a sent message, a profile) is that small. Pages of messages still compress.
		connect.WithCompressMinBytes(CompressMinBytes),
		connect.WithRecover(func(ctx context.Context, spec connect.Spec, _ http.Header, p any) error {
			logger.ErrorContext(ctx, "panic", slog.String("procedure", spec.Procedure), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			return connect.NewError(connect.CodeInternal, errors.New("internal error"))
		}),
	}
}

func connectNotFound(service string) error {
	return connect.NewError(connect.CodeNotFound, fmt.Errorf("unknown service %q", service))
}

// requestLogger writes one line per request: procedure, protocol, code, duration and whatever
// inner layers added (the user).
type requestLogger struct{ logger *slog.Logger }

func (l requestLogger) log(ctx context.Context, procedure, protocol string, start time.Time, err error) {
	code := "ok"
	level := slog.LevelInfo
	if err != nil {
		c := connect.CodeOf(err)
		code = c.String()
		switch c {
		case connect.CodeInternal, connect.CodeUnknown, connect.CodeDataLoss, connect.CodeUnavailable:
			level = slog.LevelError
		default:
			level = slog.LevelWarn
		}
	}
	attrs := []slog.Attr{
		slog.String("procedure", procedure),
		slog.String("protocol", protocol),
		slog.String("code", code),
		slog.Duration("duration", time.Since(start)),
	}
	attrs = append(attrs, logging.Attrs(ctx)...)
	if err != nil && level == slog.LevelWarn {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	if cause := hiddenCause(err); cause != "" {
		attrs = append(attrs, slog.String("cause", cause))
	}
	l.logger.LogAttrs(ctx, level, "rpc", attrs...)
}

func (l requestLogger) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		ctx = logging.WithAttrSlot(ctx)
		start := time.Now()
		res, err := next(ctx, req)
		l.log(ctx, req.Spec().Procedure, req.Peer().Protocol, start, err)
		return res, err
	}
}

func (l requestLogger) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (l requestLogger) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx = logging.WithAttrSlot(ctx)
		start := time.Now()
		err := next(ctx, conn)
		l.log(ctx, conn.Spec().Procedure, conn.Peer().Protocol, start, err)
		return err
	}
}

type errorMapper struct {
	logger *slog.Logger
	codes  []ErrorCode
}

// The fixed messages callers get when the error is not a deliberate domain error: the wrapped
// chain ("create account: context deadline exceeded", a driver's text with an address) is logged
// on the request's line, never sent.
const (
	msgInternal         = "internal error"
	msgDeadlineExceeded = "deadline exceeded: the request ran out of time"
	msgCanceled         = "request canceled"
)

// translate turns what a handler returned into what the caller sees. Only two kinds of error keep
// their own message: a domain error whose kind is in the code table (its text is written for the
// caller) and a *connect.Error the handler returned itself (not wrapped) with a code that carries
// a message meant for the caller. A *connect.Error further down the chain is a peer service's
// answer that a client package wrapped with %w: its code and message are the peer's, so it counts
// for nothing here (the domain error around it, or Internal, decides). Everything else gets a
// fixed message for its code, and the original chain stays reachable (errors.Is, Unwrap) so the
// request log records it as the cause.
func (m errorMapper) translate(ctx context.Context, procedure string, err error) error {
	if err == nil {
		return nil
	}
	if ce, ok := err.(*connect.Error); ok { //nolint:errorlint // only a top-level connect error is the handler's own answer
		// A connect error with one of these codes is a transport or runtime failure (a client
		// call that timed out, a downstream that broke), not a message written for the caller.
		switch ce.Code() {
		case connect.CodeCanceled:
			return withFixedMessage(connect.CodeCanceled, msgCanceled, err)
		case connect.CodeDeadlineExceeded:
			return withFixedMessage(connect.CodeDeadlineExceeded, msgDeadlineExceeded, err)
		case connect.CodeInternal, connect.CodeUnknown, connect.CodeDataLoss:
			if ce.Message() != msgInternal {
				m.logger.ErrorContext(ctx, "internal error", slog.String("procedure", procedure), slog.Any("error", err))
			}
			return connect.NewError(ce.Code(), errors.New(msgInternal))
		}
		return err
	}
	for _, c := range m.codes {
		if errors.Is(err, c.Err) {
			return withRetryAfter(connect.NewError(c.Code, err))
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return withFixedMessage(connect.CodeCanceled, msgCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return withFixedMessage(connect.CodeDeadlineExceeded, msgDeadlineExceeded, err)
	}
	m.logger.ErrorContext(ctx, "internal error", slog.String("procedure", procedure), slog.Any("error", err))
	return connect.NewError(connect.CodeInternal, errors.New(msgInternal))
}

// withRetryAfter adds a Retry-After header (whole seconds, RFC 9110 §10.2.3) to ce when its domain
// error says how long to wait (a throttled login). Connect sends error metadata as response
// headers, gRPC as trailers.
func withRetryAfter(ce *connect.Error) *connect.Error {
	var de *domainerr.Error
	if errors.As(ce, &de) && de.RetryAfter > 0 {
		ce.Meta().Set("Retry-After", strconv.Itoa(int(math.Ceil(de.RetryAfter.Seconds()))))
	}
	return ce
}

// withFixedMessage is a connect error with code whose message is msg and whose chain is cause.
func withFixedMessage(code connect.Code, msg string, cause error) *connect.Error {
	return connect.NewError(code, fixedMessage{msg: msg, cause: cause})
}

// fixedMessage shows msg to the caller and keeps cause for errors.Is and the log (hiddenCause).
type fixedMessage struct {
	msg   string
	cause error
}

func (e fixedMessage) Error() string { return e.msg }
func (e fixedMessage) Unwrap() error { return e.cause }

func (m errorMapper) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		res, err := next(ctx, req)
		return res, m.translate(ctx, req.Spec().Procedure, err)
	}
}

func (m errorMapper) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (m errorMapper) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return m.translate(ctx, conn.Spec().Procedure, next(ctx, conn))
	}
}

// hiddenCause returns what the error chain says beyond the message sent to the caller: a domain
// error may carry the internal cause (a dial error, a provider's answer) next to its public
// message, and a fixed message (deadline exceeded) hides the handler's wrapped chain; both belong
// in the log. Each branch contributes its outermost message the caller did not see, which keeps
// the context the handler wrapped around the cause ("create account: …"). "" when there is
// nothing more.
func hiddenCause(err error) string {
	if err == nil {
		return ""
	}
	sent := err.Error()
	var parts []string
	var walk func(e error, depth int)
	walk = func(e error, depth int) {
		if e == nil || depth > 8 {
			return
		}
		if msg := e.Error(); msg != "" && !strings.Contains(sent, msg) {
			parts = append(parts, msg)
			return
		}
		switch u := e.(type) { //nolint:errorlint // walking the chain one link at a time is the point
		case interface{ Unwrap() []error }:
			for _, n := range u.Unwrap() {
				walk(n, depth+1)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap(), depth+1)
		}
	}
	walk(err, 0)
	return strings.Join(parts, "; ")
}

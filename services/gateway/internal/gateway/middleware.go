package gateway

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/parleyhq/parley/contracts/access"
	"github.com/parleyhq/parley/platform/logging"
	"github.com/parleyhq/parley/platform/telemetry"
)

// HeaderRequestID carries the request's id to the client and to the upstream service.
const HeaderRequestID = "X-Request-Id"

// HeaderTraceID tells the client the id of its call's trace, when the call was traced.
const HeaderTraceID = "X-Trace-Id"

// requestInfo is what inner layers learn about a request for its access-log line.
type requestInfo struct {
	mu        sync.Mutex
	requestID string
	procedure string
	protocol  protocol
	upstream  string
	user      string
	code      string
}

type infoKey struct{}

// infoFrom returns the request's info; outside the access log (tests of single layers) a throwaway.
func infoFrom(ctx context.Context) *requestInfo {
	if i, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

func (i *requestInfo) setCode(code string) {
	i.mu.Lock()
	i.code = code
	i.mu.Unlock()
}

// setCodeIfUnset keeps a code the gateway decided itself over one read from the upstream.
func (i *requestInfo) setCodeIfUnset(code string) {
	i.mu.Lock()
	if i.code == "" {
		i.code = code
	}
	i.mu.Unlock()
}

func (i *requestInfo) set(fn func(*requestInfo)) {
	i.mu.Lock()
	fn(i)
	i.mu.Unlock()
}

// RequestID returns the id of the request ctx belongs to ("" outside a request).
func RequestID(ctx context.Context) string {
	i := infoFrom(ctx)
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.requestID
}

// SetUser records the authenticated caller for the access log (the realtime endpoint will use it).
func SetUser(ctx context.Context, userID string) {
	infoFrom(ctx).set(func(i *requestInfo) { i.user = userID })
}

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestIDs makes request ids unique across gateways and restarts without a random read per
// request: a random prefix drawn when the process starts, then a counter.
var requestIDs = struct {
	prefix string
	n      atomic.Uint64
}{prefix: rand.Text()[:13] + "-"}

func newRequestID() string {
	return requestIDs.prefix + strconv.FormatUint(requestIDs.n.Add(1), 36)
}

// requestContext gives every request an id (the client's X-Request-Id when it is sane, else a new
// one, set on the request for the upstream and on the response for the client), its info record
// and a log-attribute slot.
func requestContext() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			id := req.Header.Get(HeaderRequestID)
			if id == "" || !validRequestID.MatchString(id) {
				id = newRequestID()
			}
			req.Header.Set(HeaderRequestID, id)
			c.Response().Header().Set(HeaderRequestID, id)
			info := &requestInfo{requestID: id}
			ctx := context.WithValue(req.Context(), infoKey{}, info)
			ctx = logging.WithAttrSlot(ctx)
			c.SetRequest(req.WithContext(ctx))
			return next(c)
		}
	}
}

// accessLog writes one line per request when it has been answered: method, path, procedure,
// protocol, HTTP status, RPC code where known, duration, bytes, user, request id, client IP. Probes
// (/healthz, /readyz) log at debug level so they do not drown the rest. A call under /api is also
// measured by procedure and code (telemetry.MetricRPCDuration, the name the services use) and, with
// tracing on, gets the server span the upstream's continues (startSpan).
func accessLog(logger *slog.Logger, tel *telemetry.Telemetry) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			var span trace.Span
			if tel.Tracing() && strings.HasPrefix(c.Request().URL.Path, APIPrefix+"/") {
				span = startSpan(c, tel)
			}
			err := next(c)
			if err != nil {
				c.Error(err) // answer now so the line shows the status actually sent
			}
			req, res := c.Request(), c.Response()
			// Room for every attribute the line can have, on the stack: no allocation per request.
			var room [16]slog.Attr
			attrs, code, procedure := requestAttrs(room[:0], c, infoFrom(req.Context()), start)
			if procedure != "" {
				if code == "" {
					code = "unknown" // a stream's end, inside its body, is not parsed
				}
				tel.ObserveRPC(procedure, code, time.Since(start))
			}
			if span != nil {
				endSpan(span, procedure, code, res.Status)
				attrs = append(attrs, slog.String("trace_id", span.SpanContext().TraceID().String()))
			}
			attrs = append(attrs, logging.Attrs(req.Context())...)
			if err != nil {
				attrs = append(attrs, slog.String("error", err.Error()))
			}
			logger.LogAttrs(req.Context(), accessLevel(req.URL.Path, res.Status, code), "request", attrs...)
			return nil
		}
	}
}

// requestAttrs reads what the request's handlers recorded in info: the access line's attributes,
// appended to attrs, the Connect code ("" when none was seen) and the procedure the RPC metrics
// count ("" for none).
func requestAttrs(attrs []slog.Attr, c echo.Context, info *requestInfo, start time.Time) (_ []slog.Attr, code, procedure string) {
	req, res := c.Request(), c.Response()
	info.mu.Lock()
	defer info.mu.Unlock()
	attrs = append(attrs,
		slog.String("method", req.Method),
		slog.String("path", req.URL.Path),
		slog.Int("status", res.Status),
		slog.Duration("duration", time.Since(start)),
		slog.Int64("bytes", res.Size),
		slog.String("request_id", info.requestID),
		slog.String("remote", c.RealIP()),
	)
	if info.procedure != "" {
		attrs = append(attrs, slog.String("procedure", info.procedure), slog.String("protocol", string(info.protocol)))
	}
	if info.upstream != "" {
		attrs = append(attrs, slog.String("upstream", info.upstream))
	}
	if info.code != "" {
		attrs = append(attrs, slog.String("code", info.code))
	}
	if info.user != "" {
		attrs = append(attrs, slog.String("user", info.user))
	}
	return attrs, info.code, measuredProcedure(info, res.Status)
}

func accessLevel(path string, status int, code string) slog.Level {
	switch {
	case path == "/healthz" || path == "/readyz":
		if status == http.StatusOK {
			return slog.LevelDebug
		}
		return slog.LevelWarn // the report says which service is missing
	case status >= 500, code == connect.CodeInternal.String(), code == connect.CodeUnknown.String(),
		code == connect.CodeDataLoss.String(), code == connect.CodeUnavailable.String():
		return slog.LevelError
	case status >= 400, code != "" && code != "ok":
		return slog.LevelWarn
	default:
		return slog.LevelInfo
	}
}

// recoverPanics turns a panic in a handler into a 500 (an RPC internal error under /api) and logs
// it with its stack. http.ErrAbortHandler — the reverse proxy's way to abort a response whose
// upstream failed mid-body — is passed on to net/http, which drops the connection quietly.
func recoverPanics(logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			defer func() {
				p := recover()
				if p == nil {
					return
				}
				if p == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
					panic(p)
				}
				req := c.Request()
				logger.ErrorContext(req.Context(), "panic", slog.String("path", req.URL.Path),
					slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
				if c.Response().Committed {
					err = fmt.Errorf("panic after the response started: %v", p)
					return
				}
				if strings.HasPrefix(req.URL.Path, APIPrefix+"/") {
					writeRPCError(c.Response(), req, connect.CodeInternal, "internal error", 0)
					return
				}
				err = echo.NewHTTPError(http.StatusInternalServerError, "internal error")
			}()
			return next(c)
		}
	}
}

// startSpan starts a call's server span. The gateway is where traces begin: a client's own
// traceparent is not continued (the proxy drops it), so nobody outside chooses trace ids; the
// trace's id goes back to the client in HeaderTraceID, for a bug report to name. The span is named
// after the path until the router knows the procedure (endSpan renames it).
func startSpan(c echo.Context, tel *telemetry.Telemetry) trace.Span {
	req := c.Request()
	ctx, span := tel.Tracer().Start(req.Context(), req.Method+" "+APIPrefix, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", req.Method)))
	if id := telemetry.TraceID(ctx); id != "" {
		c.Response().Header().Set(HeaderTraceID, id)
	}
	c.SetRequest(req.WithContext(ctx))
	return span
}

// endSpan names the span after the procedure and ends it with the call's code.
func endSpan(span trace.Span, procedure, code string, status int) {
	if procedure != "" {
		span.SetName(strings.TrimPrefix(procedure, "/"))
		svc, method, _ := strings.Cut(strings.TrimPrefix(procedure, "/"), "/")
		span.SetAttributes(attribute.String("rpc.system", "connect_rpc"), attribute.String("rpc.service", svc),
			attribute.String("rpc.method", method))
	}
	span.SetAttributes(attribute.Int("http.response.status_code", status), attribute.String("rpc.connect_rpc.error_code", code))
	if status >= 500 {
		span.SetStatus(codes.Error, code)
	}
	span.End()
}

// measuredProcedure is the procedure label of a call (info.mu held): only calls routed to a
// service are measured, and a procedure the protos do not have (contracts/access), or one its
// service answers as unimplemented or with a bare 404, is "other": the path is the client's to
// choose — a call refused before it reaches the service (no token, rate-limited) included — and a
// label must not take unbounded values.
func measuredProcedure(info *requestInfo, status int) string {
	switch {
	case info.upstream == "" || info.procedure == "":
		return ""
	case !knownProcedures()[info.procedure],
		info.code == connect.CodeUnimplemented.String(), info.code == "" && status == http.StatusNotFound:
		return "other"
	}
	return info.procedure
}

// knownProcedures are the procedures of every Parley service, as the protos declare them.
var knownProcedures = sync.OnceValue(func() map[string]bool {
	known := map[string]bool{}
	for _, p := range access.All() {
		known[p.Name] = true
	}
	return known
})

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/logging"
	"github.com/parleyhq/parley/platform/logtest"
)

var errNotFound = errors.New("not found")

const echoProcedure = "/test.v1.TestService/Echo"

type fixture struct {
	url    string
	logs   *logtest.Buffer
	ready  *error
	cancel context.CancelFunc
	done   chan error
}

// start serves a tiny Echo procedure whose behaviour depends on its input: "missing" returns a
// mapped sentinel, "boom" an unmapped error, "panic" panics, anything else is echoed back.
func start(t *testing.T, configure ...func(*Server)) *fixture {
	t.Helper()
	logs := &logtest.Buffer{}
	logger := logging.NewTo(logs, "test", "json", "debug")
	s := New(logger, "127.0.0.1:0")
	for _, c := range configure {
		c(s)
	}
	var readyErr error
	s.AddReadinessCheck("db", func(context.Context) error { return readyErr })
	annotate := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			logging.AddAttrs(ctx, slog.String("user", "user-7"))
			return next(ctx, req)
		}
	})
	opts := HandlerOptions(logger, []ErrorCode{{Err: errNotFound, Code: connect.CodeNotFound}}, annotate)
	s.Mount("/test.v1.TestService/", connect.NewUnaryHandler(echoProcedure,
		func(ctx context.Context, req *connect.Request[wrapperspb.StringValue]) (*connect.Response[wrapperspb.StringValue], error) {
			switch req.Msg.GetValue() {
			case "missing":
				return nil, fmt.Errorf("%w: chat 42", errNotFound)
			case "boom":
				return nil, errors.New("pq: password authentication failed for user secret")
			case "panic":
				panic("kaboom")
			case "slow": // waits out the caller's deadline and wraps the context's error, as a store does
				<-ctx.Done()
				return nil, fmt.Errorf("create account: %w", ctx.Err())
			case "canceled":
				return nil, fmt.Errorf("load chat from 10.9.8.7:5432: %w", context.Canceled)
			case "downstream-timeout": // a client call's own error, returned as is
				return nil, connect.NewError(connect.CodeDeadlineExceeded, fmt.Errorf("call chat at 10.9.8.7:8082: %w", context.DeadlineExceeded))
			case "downstream-broken":
				return nil, connect.NewError(connect.CodeUnknown, errors.New("read tcp 10.9.8.7:8082: connection reset by peer"))
			case "invalid":
				return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("value: must not be invalid"))
			case "peer-wrapped": // a client package wrapped a peer's answer with %w and passed it on
				return nil, fmt.Errorf("friend CheckFriendship: %w", connect.NewError(connect.CodePermissionDenied, errors.New("friend: caller 10.9.8.7 is not a service")))
			case "domain-over-peer": // a client package's domain error keeps the peer's answer as its cause
				return nil, domainerr.Wrap(domainerr.ErrUnavailable, connect.NewError(connect.CodeNotFound, errors.New("media: no route to bucket")), "the media service cannot be reached; try again shortly")
			case "throttled":
				return nil, &domainerr.Error{Kind: domainerr.ErrResourceExhausted, Msg: "too many attempts; try again in 2 seconds", RetryAfter: 1500 * time.Millisecond}
			}
			return connect.NewResponse(wrapperspb.String(req.Msg.GetValue())), nil
		}, opts...))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &fixture{url: "http://" + ln.Addr().String(), logs: logs, ready: &readyErr, cancel: cancel, done: make(chan error, 1)}
	go func() { f.done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-f.done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return f
}

var h2c = H2CClient()

func echo(t *testing.T, f *fixture, in string, opts ...connect.ClientOption) (string, error) {
	t.Helper()
	client := http.DefaultClient
	for _, o := range opts {
		if o == grpc {
			client = h2c
		}
	}
	c := connect.NewClient[wrapperspb.StringValue, wrapperspb.StringValue](client, f.url+echoProcedure, opts...)
	res, err := c.CallUnary(context.Background(), connect.NewRequest(wrapperspb.String(in)))
	if err != nil {
		return "", err
	}
	return res.Msg.GetValue(), nil
}

var grpc = connect.WithGRPC()

func TestProtocols(t *testing.T) {
	f := start(t)
	for name, opts := range map[string][]connect.ClientOption{
		"connect":  nil,
		"json":     {connect.WithProtoJSON()},
		"grpc":     {grpc},
		"grpc-web": {connect.WithGRPCWeb()},
	} {
		got, err := echo(t, f, "hi "+name, opts...)
		if err != nil || got != "hi "+name {
			t.Errorf("%s: got %q, %v", name, got, err)
		}
	}
}

func TestErrorsAreMappedAndCausesNotLeaked(t *testing.T) {
	f := start(t)
	_, err := echo(t, f, "missing")
	if connect.CodeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), "chat 42") {
		t.Fatalf("mapped sentinel: %v", err)
	}
	_, err = echo(t, f, "boom")
	if connect.CodeOf(err) != connect.CodeInternal || strings.Contains(err.Error(), "password") {
		t.Fatalf("unmapped error must be a generic internal error: %v", err)
	}
	if !strings.Contains(f.logs.String(), "password authentication failed") {
		t.Fatalf("the cause must be logged:\n%s", f.logs.String())
	}
	_, err = echo(t, f, "panic")
	if connect.CodeOf(err) != connect.CodeInternal {
		t.Fatalf("panic: %v", err)
	}
	// The server survived the panic.
	if got, err := echo(t, f, "still here"); err != nil || got != "still here" {
		t.Fatalf("after panic: %q %v", got, err)
	}
}

// TestDeadlineAndRuntimeErrorsGetFixedMessages: a caller's deadline ran out while the handler
// worked, and the handler wrapped the context's error ("create account: context deadline
// exceeded"). The caller gets the code with a fixed message; the chain is in the log.
func TestDeadlineAndRuntimeErrorsGetFixedMessages(t *testing.T) {
	f := start(t)
	// Raw Connect request so that the answer is the server's, not the client's own timeout.
	req, _ := http.NewRequest(http.MethodPost, f.url+echoProcedure, strings.NewReader(`"slow"`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connect-Timeout-Ms", "1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var body struct{ Code, Message string }
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("answer %q: %v", raw, err)
	}
	if body.Code != "deadline_exceeded" || body.Message != msgDeadlineExceeded {
		t.Fatalf("deadline: got code %q message %q, want deadline_exceeded %q", body.Code, body.Message, msgDeadlineExceeded)
	}

	for _, tc := range []struct {
		in   string
		code connect.Code
		msg  string
	}{
		{"canceled", connect.CodeCanceled, msgCanceled},
		{"downstream-timeout", connect.CodeDeadlineExceeded, msgDeadlineExceeded},
		{"downstream-broken", connect.CodeUnknown, msgInternal},
		{"invalid", connect.CodeInvalidArgument, "value: must not be invalid"}, // deliberate: kept
		{"missing", connect.CodeNotFound, "not found: chat 42"},                // domain error: kept
	} {
		_, err := echo(t, f, tc.in)
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Code() != tc.code || ce.Message() != tc.msg {
			t.Errorf("%s: got %v, want %v %q", tc.in, err, tc.code, tc.msg)
		}
	}

	logs := f.logs.String()
	for _, want := range []string{"create account: context deadline exceeded", "load chat from 10.9.8.7:5432", "call chat at 10.9.8.7:8082", "connection reset by peer"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks the cause %q:\n%s", want, logs)
		}
	}
}

// TestOnlyATopLevelConnectErrorIsTrusted: a *connect.Error deeper in the chain is a peer service's
// answer; its code and message must not pass through as ours.
func TestOnlyATopLevelConnectErrorIsTrusted(t *testing.T) {
	f := start(t)
	for _, tc := range []struct {
		in   string
		code connect.Code
		msg  string
	}{
		{"peer-wrapped", connect.CodeInternal, msgInternal},
		{"domain-over-peer", connect.CodeUnavailable, "the media service cannot be reached; try again shortly"},
		{"invalid", connect.CodeInvalidArgument, "value: must not be invalid"}, // the handler's own: kept
	} {
		_, err := echo(t, f, tc.in)
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Code() != tc.code || ce.Message() != tc.msg {
			t.Errorf("%s: got %v, want %v %q", tc.in, err, tc.code, tc.msg)
		}
	}
	logs := f.logs.String()
	for _, want := range []string{"caller 10.9.8.7 is not a service", "no route to bucket"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks the peer's answer %q:\n%s", want, logs)
		}
	}
}

// TestStandardKindsMapByDefaultAndRetryAfterIsSent: a domainerr kind needs no entry in the
// service's table, and a domain error's RetryAfter becomes a header in whole seconds, rounded up.
func TestStandardKindsMapByDefaultAndRetryAfterIsSent(t *testing.T) {
	f := start(t)
	_, err := echo(t, f, "throttled")
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeResourceExhausted || ce.Message() != "too many attempts; try again in 2 seconds" {
		t.Fatalf("got %v", err)
	}
	if got := ce.Meta().Get("Retry-After"); got != "2" {
		t.Fatalf("Retry-After %q, want 2", got)
	}
}

func TestOneLogLinePerRequest(t *testing.T) {
	f := start(t)
	if _, err := echo(t, f, "x"); err != nil {
		t.Fatal(err)
	}
	_, _ = echo(t, f, "missing")
	var lines []string
	for _, l := range strings.Split(f.logs.String(), "\n") {
		if strings.Contains(l, `"msg":"rpc"`) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("want 2 rpc log lines, got %d:\n%s", len(lines), f.logs.String())
	}
	for _, want := range []string{`"procedure":"/test.v1.TestService/Echo"`, `"code":"ok"`, `"user":"user-7"`, `"duration"`} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("log line lacks %s: %s", want, lines[0])
		}
	}
	if !strings.Contains(lines[1], `"code":"not_found"`) {
		t.Errorf("second line should carry the code: %s", lines[1])
	}
}

func TestHealthAndReadiness(t *testing.T) {
	f := start(t)
	get := func(path string) int {
		res, err := http.Get(f.url + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	grpcHealth := func() string {
		res, err := http.Post(f.url+"/grpc.health.v1.Health/Check", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body struct{ Status string }
		raw, _ := io.ReadAll(res.Body)
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("health answer %q: %v", raw, err)
		}
		return body.Status
	}
	if get("/healthz") != 200 || get("/readyz") != 200 || grpcHealth() != "SERVING_STATUS_SERVING" {
		t.Fatal("healthy server should be live and ready")
	}
	*f.ready = errors.New("database down")
	if get("/healthz") != 200 {
		t.Fatal("liveness must not depend on dependencies")
	}
	if get("/readyz") != http.StatusServiceUnavailable || grpcHealth() != "SERVING_STATUS_NOT_SERVING" {
		t.Fatal("readiness must fail when a dependency fails")
	}
}

func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	f := start(t)
	if _, err := echo(t, f, "warm"); err != nil {
		t.Fatal(err)
	}
	f.cancel()
	select {
	case err := <-f.done:
		if err != nil {
			t.Fatalf("Serve returned %v after shutdown, want nil", err)
		}
		f.done <- nil // for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("server did not stop")
	}
}

// hiddenErr is a domain error that shows a public message and keeps its cause for the logs.
type hiddenErr struct {
	msg   string
	kind  error
	cause error
}

func (e hiddenErr) Error() string   { return e.msg }
func (e hiddenErr) Unwrap() []error { return []error{e.kind, e.cause} }

func TestHiddenCauseIsLoggedNotSent(t *testing.T) {
	err := connect.NewError(connect.CodeUnavailable, hiddenErr{
		msg: "provider is not reachable right now", kind: errNotFound,
		cause: fmt.Errorf("token endpoint: %w", errors.New("dial tcp 10.1.2.3:443: i/o timeout")),
	})
	got := hiddenCause(err)
	if !strings.Contains(got, "10.1.2.3") || strings.Contains(err.Message(), "10.1.2.3") {
		t.Fatalf("cause %q, message %q", got, err.Message())
	}
	if c := hiddenCause(errors.New("plain")); c != "" {
		t.Fatalf("a plain error has no hidden cause, got %q", c)
	}
}

func TestOnlyLargeResponsesAreCompressed(t *testing.T) {
	f := start(t)
	for _, tc := range []struct {
		size     int
		wantGzip bool
	}{{10, false}, {CompressMinBytes - 100, false}, {4 * CompressMinBytes, true}} {
		in, _ := json.Marshal(strings.Repeat("x", tc.size))
		req, _ := http.NewRequest(http.MethodPost, f.url+echoProcedure, bytes.NewReader(in))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept-Encoding", "gzip") // set by hand: the transport then leaves the body as sent
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if got := res.Header.Get("Content-Encoding") == "gzip"; res.StatusCode != http.StatusOK || got != tc.wantGzip {
			t.Errorf("a %d-byte response: status %d, gzip %v, want gzip %v", tc.size, res.StatusCode, got, tc.wantGzip)
		}
	}
}

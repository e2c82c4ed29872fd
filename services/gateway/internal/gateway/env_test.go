package gateway_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1/authv1connect"
	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1/chatv1connect"
	profilev1 "github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1/profilev1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/proctest"
	"github.com/parleyhq/parley/platform/server"

	"github.com/parleyhq/parley/services/gateway/internal/gateway"
	"github.com/parleyhq/parley/services/gateway/internal/upstreamtest"
)

// seen is what a fake service observed of one call.
type seen struct {
	procedure string
	method    string
	header    http.Header
	user      string
}

// recorder keeps the calls a fake service received.
type recorder struct {
	mu    sync.Mutex
	calls []seen
}

func (r *recorder) add(s seen) {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func (r *recorder) last(t *testing.T) seen {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) == 0 {
		t.Fatal("the service was not called")
	}
	return r.calls[len(r.calls)-1]
}

func record[T any](rec *recorder, ctx context.Context, req *connect.Request[T]) {
	rec.add(seen{procedure: req.Spec().Procedure, method: req.HTTPMethod(), header: req.Header().Clone(), user: authn.UserID(ctx)})
}

// fakeAuth stands in for the auth service (services/auth, another module): just enough of
// AuthService to see what the gateway forwards.
type fakeAuth struct {
	authv1connect.UnimplementedAuthServiceHandler
	rec *recorder
}

func (f *fakeAuth) Login(ctx context.Context, req *connect.Request[authv1.LoginRequest]) (*connect.Response[authv1.LoginResponse], error) {
	record(f.rec, ctx, req)
	if req.Msg.GetPassword() != "secret" {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("wrong email or password"))
	}
	if req.Msg.GetEmail() == "two@example.com" {
		return connect.NewResponse(&authv1.LoginResponse{UserId: "user-of-two", SecondFactor: &authv1.SecondFactorChallenge{}}), nil
	}
	return connect.NewResponse(&authv1.LoginResponse{UserId: "user-of-" + req.Msg.GetEmail(), Tokens: fakeTokens("refresh-1")}), nil
}

// fakeTokens is a session's tokens; its refresh tokens are refresh-<n>, each good for one
// RefreshToken (refresh-1 gives refresh-2).
func fakeTokens(refresh string) *authv1.Tokens {
	return &authv1.Tokens{
		AccessToken: "access-for-" + refresh, RefreshToken: refresh, TokenType: "Bearer",
		RefreshTokenExpiresAt: timestamppb.New(time.Now().Add(30 * 24 * time.Hour)),
	}
}

func (f *fakeAuth) RefreshToken(ctx context.Context, req *connect.Request[authv1.RefreshTokenRequest]) (*connect.Response[authv1.RefreshTokenResponse], error) {
	record(f.rec, ctx, req)
	if req.Msg.GetRefreshToken() != "refresh-1" {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("refresh token is invalid or expired; sign in again"))
	}
	return connect.NewResponse(&authv1.RefreshTokenResponse{UserId: "u1", Tokens: fakeTokens("refresh-2")}), nil
}

func (f *fakeAuth) Logout(ctx context.Context, req *connect.Request[authv1.LogoutRequest]) (*connect.Response[authv1.LogoutResponse], error) {
	record(f.rec, ctx, req)
	if req.Msg.GetRefreshToken() == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("refresh_token: required"))
	}
	return connect.NewResponse(&authv1.LogoutResponse{}), nil
}

func (f *fakeAuth) Register(ctx context.Context, req *connect.Request[authv1.RegisterRequest]) (*connect.Response[authv1.RegisterResponse], error) {
	record(f.rec, ctx, req)
	return connect.NewResponse(&authv1.RegisterResponse{UserId: "new-user"}), nil
}

func (f *fakeAuth) GetMe(ctx context.Context, req *connect.Request[authv1.GetMeRequest]) (*connect.Response[authv1.GetMeResponse], error) {
	record(f.rec, ctx, req)
	return connect.NewResponse(&authv1.GetMeResponse{Account: &authv1.Account{UserId: authn.UserID(ctx), Email: "me@example.com"}}), nil
}

// fakeProfile stands in for the profile service (services/profile, another module).
type fakeProfile struct {
	profilev1connect.UnimplementedProfileServiceHandler
	rec *recorder
}

func (f *fakeProfile) GetProfile(ctx context.Context, req *connect.Request[profilev1.GetProfileRequest]) (*connect.Response[profilev1.GetProfileResponse], error) {
	record(f.rec, ctx, req)
	return connect.NewResponse(&profilev1.GetProfileResponse{Profile: &profilev1.Profile{UserId: authn.UserID(ctx), Nickname: "nick"}}), nil
}

// streamProcedure is a server-streaming method defined only in this test: no Parley contract has
// one yet. It lives under parley.chat.v1 so the gateway routes it to the chat upstream.
const streamProcedure = "/parley.chat.v1.ChatService/WatchTest"

// streamer sends "first", waits for the test to release it (proving "first" reached the client
// through the gateway while the stream was still open), sends "second", sets a trailer and ends
// with Aborted so error propagation at the end of a stream is checked too.
type streamer struct {
	release chan struct{}
	rec     *recorder
}

func (s *streamer) handle(ctx context.Context, req *connect.Request[profilev1.CheckNicknameRequest], stream *connect.ServerStream[profilev1.CheckNicknameResponse]) error {
	record(s.rec, ctx, req)
	if err := stream.Send(&profilev1.CheckNicknameResponse{Reason: "first:" + req.Msg.GetNickname()}); err != nil {
		return err
	}
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := stream.Send(&profilev1.CheckNicknameResponse{Reason: "second"}); err != nil {
		return err
	}
	stream.ResponseTrailer().Set("X-Test-Trailer", "done")
	return connect.NewError(connect.CodeAborted, errors.New("end of test stream"))
}

var publicProcedures = []string{
	authv1connect.AuthServiceLoginProcedure,
	authv1connect.AuthServiceRegisterProcedure,
	authv1connect.AuthServiceRefreshTokenProcedure,
	authv1connect.AuthServiceLogoutProcedure,
	profilev1connect.ProfileServiceCheckNicknameProcedure,
}

// deadURL is the URL of a loopback port nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	return "http://" + proctest.FreeAddr(t)
}

// env is a gateway in front of fake auth, profile and chat services.
type env struct {
	iss      *authntest.TokenIssuer
	gateway  *gateway.Gateway
	url      string // the gateway's base URL
	api      string // url + "/api"
	logs     *logSink
	auth     *recorder
	profile  *recorder
	chat     *recorder
	streamer *streamer
}

type envOption func(*gateway.Options)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	e := &env{iss: authntest.New(t), logs: newLogSink(), auth: &recorder{}, profile: &recorder{}, chat: &recorder{}}
	upLogger := slog.New(slog.DiscardHandler)
	upVerifier := e.iss.RemoteVerifier(t)
	handlerOpts := server.HandlerOptions(upLogger, nil, authn.NewInterceptor(upVerifier, publicProcedures...))

	authURL := upstreamtest.Start(t, upLogger, func(s *server.Server) {
		s.Mount(authv1connect.NewAuthServiceHandler(&fakeAuth{rec: e.auth}, handlerOpts...))
	})
	profileURL := upstreamtest.Start(t, upLogger, func(s *server.Server) {
		s.Mount(profilev1connect.NewProfileServiceHandler(&fakeProfile{rec: e.profile}, handlerOpts...))
		// CheckNickname with NO_SIDE_EFFECTS, so Connect GET can be tested (the contract does
		// not mark any method idempotent yet).
		s.Handle(profilev1connect.ProfileServiceCheckNicknameProcedure, connect.NewUnaryHandler(
			profilev1connect.ProfileServiceCheckNicknameProcedure,
			func(ctx context.Context, req *connect.Request[profilev1.CheckNicknameRequest]) (*connect.Response[profilev1.CheckNicknameResponse], error) {
				record(e.profile, ctx, req)
				return connect.NewResponse(&profilev1.CheckNicknameResponse{Available: req.Msg.GetNickname() == "free"}), nil
			},
			append(handlerOpts, connect.WithIdempotency(connect.IdempotencyNoSideEffects))...))
	})
	e.streamer = &streamer{release: make(chan struct{}, 1), rec: e.chat}
	chatURL := upstreamtest.Start(t, upLogger, func(s *server.Server) {
		s.Handle(streamProcedure, connect.NewServerStreamHandler(streamProcedure, e.streamer.handle, handlerOpts...))
		// An internal procedure the real chat service answers only to other services: here it
		// answers anyone, so a call that reached it would show.
		s.Handle(chatv1connect.ChatServiceCheckChatAccessProcedure, connect.NewUnaryHandler(
			chatv1connect.ChatServiceCheckChatAccessProcedure,
			func(ctx context.Context, req *connect.Request[chatv1.CheckChatAccessRequest]) (*connect.Response[chatv1.CheckChatAccessResponse], error) {
				record(e.chat, ctx, req)
				return connect.NewResponse(&chatv1.CheckChatAccessResponse{IsParticipant: true}), nil
			}, handlerOpts...))
	})

	ups := []gateway.Upstream{}
	for name, u := range map[string]string{"auth": authURL, "profile": profileURL, "chat": chatURL} {
		up, err := gateway.NewUpstream(name, u)
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, up)
	}
	o := gateway.Options{
		Logger:             slog.New(e.logs),
		Upstreams:          ups,
		Verifier:           e.iss.RemoteVerifier(t),
		CORSAllowedOrigins: []string{"http://localhost:8080", "http://127.0.0.1:8080"},
	}
	for _, fn := range opts {
		fn(&o)
	}
	g, err := gateway.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.gateway = g
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, ln, gateway.ServerOptions{ShutdownTimeout: 2 * time.Second}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway Serve: %v", err)
		}
	})
	e.url = "http://" + ln.Addr().String()
	e.api = e.url + "/api"
	return e
}

// inEachProtocol runs check as a subtest once per protocol a client may speak to the gateway
// (gRPC, over h2c; gRPC-Web; Connect), with the HTTP client and the client options for it.
func inEachProtocol(t *testing.T, check func(t *testing.T, httpClient *http.Client, opts ...connect.ClientOption)) {
	t.Helper()
	for name, opts := range map[string][]connect.ClientOption{
		"grpc":     {connect.WithGRPC()},
		"grpc-web": {connect.WithGRPCWeb()},
		"connect":  nil,
	} {
		t.Run(name, func(t *testing.T) {
			httpClient := http.DefaultClient
			if name == "grpc" {
				httpClient = h2cClient(t)
			}
			check(t, httpClient, opts...)
		})
	}
}

// h2cClient speaks HTTP/2 without TLS, as gRPC clients do. Its connections are closed when the
// test ends, before the gateway shuts down (which otherwise waits a second for idle HTTP/2 peers).
func h2cClient(t *testing.T) *http.Client {
	c := server.H2CClient()
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// logSink is a slog handler keeping records, so tests can wait for the access-log line (written
// after the response has gone out) without sleeping.
type logSink struct {
	mu      sync.Mutex
	records []map[string]any
	changed chan struct{}
}

func newLogSink() *logSink { return &logSink{changed: make(chan struct{})} }

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) WithGroup(string) slog.Handler            { return s }
func (s *logSink) WithAttrs(attrs []slog.Attr) slog.Handler {
	// Every logger of the gateway shares the sink; attributes given here are kept per record.
	return &logSinkWith{s: s, attrs: attrs}
}

func (s *logSink) Handle(_ context.Context, r slog.Record) error { return s.add(r, nil) }

func (s *logSink) add(r slog.Record, extra []slog.Attr) error {
	m := map[string]any{"msg": r.Message, "level": r.Level.String()}
	for _, a := range extra {
		m[a.Key] = a.Value.Resolve().Any()
	}
	r.Attrs(func(a slog.Attr) bool {
		v := a.Value.Resolve()
		if v.Kind() == slog.KindDuration {
			m[a.Key] = v.Duration().String()
		} else {
			m[a.Key] = v.Any()
		}
		return true
	})
	s.mu.Lock()
	s.records = append(s.records, m)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}

type logSinkWith struct {
	s     *logSink
	attrs []slog.Attr
}

func (w *logSinkWith) Enabled(context.Context, slog.Level) bool { return true }
func (w *logSinkWith) WithGroup(string) slog.Handler            { return w }
func (w *logSinkWith) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logSinkWith{s: w.s, attrs: append(append([]slog.Attr(nil), w.attrs...), attrs...)}
}
func (w *logSinkWith) Handle(_ context.Context, r slog.Record) error { return w.s.add(r, w.attrs) }

// waitFor returns the first record matching match, waiting up to 10s for it to be logged.
func (s *logSink) waitFor(t *testing.T, match func(map[string]any) bool) map[string]any {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		for _, r := range s.records {
			if match(r) {
				s.mu.Unlock()
				return r
			}
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-timeout:
			t.Fatal("no matching log record within 10s")
		}
	}
}

func slogFrom(s *logSink) *slog.Logger { return slog.New(s) }

func newLogSinkLogger() *slog.Logger { return slog.New(newLogSink()) }

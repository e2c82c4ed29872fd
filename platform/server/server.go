// Package server runs a service's one port: Connect, gRPC and gRPC-Web over HTTP/1.1 and h2c,
// gRPC health and reflection, /healthz and /readyz, with timeouts and graceful shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	"github.com/parleyhq/parley/platform/telemetry"
)

// Server is one service's HTTP server.
type Server struct {
	logger   *slog.Logger
	addr     string
	mux      *http.ServeMux
	services []string
	checks   []check

	// ShutdownTimeout bounds how long in-flight requests may finish after the context ends.
	ShutdownTimeout time.Duration
	// AdminAddr, when set (ADMIN_ADDR), is where Run and Serve also answer AdminHandler's
	// operator endpoints, for as long as the public port.
	AdminAddr string
	// Telemetry, when set, is served on the admin listener as /metrics (MetricsRoute).
	Telemetry *telemetry.Telemetry

	// ReadHeaderTimeout bounds reading a request's headers, and on h2c the connection preface
	// (slowloris on HTTP/1.1 and h2c). Default 5s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a connection with no request in flight: between HTTP/1.1 requests, and
	// on h2c also a connection that never completes a request's headers. Default 2m.
	IdleTimeout time.Duration
	// BodyReadTimeout bounds reading a request body (see BodyDeadline): the whole body of a
	// unary call, each read of a stream's. Default 30s; 0 or less turns it off.
	BodyReadTimeout time.Duration

	streams []string // path prefixes of streaming procedures (MountStream)
}

type check struct {
	name string
	fn   func(context.Context) error
}

// New returns a server that will listen on addr (e.g. ":8081").
func New(logger *slog.Logger, addr string) *Server {
	return &Server{
		logger: logger, addr: addr, mux: http.NewServeMux(),
		ShutdownTimeout:   10 * time.Second,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		BodyReadTimeout:   DefaultBodyReadTimeout,
	}
}

// Defaults of the Server's timeouts.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultBodyReadTimeout   = 30 * time.Second
)

// Mount registers a Connect service handler as returned by the generated New…Handler: path is its
// "/package.Service/" prefix. The service is announced by health checks and reflection.
func (s *Server) Mount(path string, h http.Handler) {
	s.mux.Handle(path, h)
	s.services = append(s.services, strings.Trim(path, "/"))
}

// MountStream is Mount for a service whose procedures stream from the client (client or bidi
// streaming): its request bodies are bounded per read, not as a whole (see BodyDeadline).
func (s *Server) MountStream(path string, h http.Handler) {
	s.Mount(path, h)
	s.streams = append(s.streams, path)
}

// Handle registers a plain HTTP handler (e.g. the JWKS document).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// AddReadinessCheck adds a dependency that must answer for the service to be ready (/readyz and
// gRPC health). Liveness (/healthz) never depends on other systems.
func (s *Server) AddReadinessCheck(name string, fn func(context.Context) error) {
	s.checks = append(s.checks, check{name: name, fn: fn})
}

func (s *Server) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for _, c := range s.checks {
		if err := c.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	return nil
}

// Handler returns the complete handler: services, health, reflection and probes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", s.mux)
	mux.Handle(grpchealth.NewHandler(healthChecker{s}))
	reflector := grpcreflect.NewStaticReflector(append([]string{grpchealth.HealthV1ServiceName}, s.services...)...)
	// Reflection is a bidi stream (grpcurl keeps asking on one call).
	streams := append([]string(nil), s.streams...)
	reflectV1, reflectV1Handler := grpcreflect.NewHandlerV1(reflector)
	reflectV1Alpha, reflectV1AlphaHandler := grpcreflect.NewHandlerV1Alpha(reflector)
	mux.Handle(reflectV1, reflectV1Handler)
	mux.Handle(reflectV1Alpha, reflectV1AlphaHandler)
	streams = append(streams, reflectV1, reflectV1Alpha)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.ready(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return BodyDeadline(mux, s.BodyReadTimeout, streams...)
}

// Run serves until ctx ends, then stops accepting connections and lets in-flight requests finish
// within ShutdownTimeout.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on an existing listener (tests listen on port 0).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.AdminAddr == "" {
		return s.serve(ctx, ln)
	}
	adminLn, err := ListenAdmin(s.AdminAddr)
	if err != nil {
		_ = ln.Close()
		return err
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	adminDone := make(chan error, 1)
	var routes []AdminRoute
	if s.Telemetry != nil {
		routes = append(routes, MetricsRoute(s.Telemetry))
	}
	go func() { adminDone <- ServeAdmin(ctx, s.logger, adminLn, routes...) }()
	err = s.serve(ctx, ln)
	stop()
	return errors.Join(err, <-adminDone)
}

func (s *Server) serve(ctx context.Context, ln net.Listener) error {
	return ServeHTTP(ctx, s.logger, ln, s.Handler(), HTTPTimeouts{
		ReadHeader: s.ReadHeaderTimeout, Idle: s.IdleTimeout, Shutdown: s.ShutdownTimeout,
	}, slog.Any("services", s.services))
}

// HTTPTimeouts bound ServeHTTP's connections and its shutdown (see Server's fields of the same
// names for what each bounds).
type HTTPTimeouts struct {
	ReadHeader time.Duration
	Idle       time.Duration
	// Shutdown bounds how long in-flight requests may finish after the context ends.
	Shutdown time.Duration
}

// ServeHTTP serves h on ln over HTTP/1.1 and h2c (gRPC clients without TLS) until ctx ends, then
// stops accepting and lets in-flight requests finish within t.Shutdown; past it, it closes what
// is left and returns an error wrapping context.DeadlineExceeded. Server uses it; so does the
// gateway, whose handler is its own router. It logs "listening" (with attrs) and "shutting down".
// There is no overall read or write timeout: streams last as long as they last.
func ServeHTTP(ctx context.Context, logger *slog.Logger, ln net.Listener, h http.Handler, t HTTPTimeouts, attrs ...any) error {
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           h,
		Protocols:         protocols,
		ReadHeaderTimeout: t.ReadHeader,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.InfoContext(ctx, "listening", append([]any{slog.String("addr", ln.Addr().String())}, attrs...)...)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.InfoContext(ctx, "shutting down", slog.Duration("timeout", t.Shutdown))
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.Shutdown)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

type healthChecker struct{ s *Server }

func (h healthChecker) Check(ctx context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	known := req.Service == "" || req.Service == grpchealth.HealthV1ServiceName
	for _, name := range h.s.services {
		known = known || name == req.Service
	}
	if !known {
		return nil, connectNotFound(req.Service)
	}
	if err := h.s.ready(ctx); err != nil {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil //nolint:nilerr // an unready dependency is an answer, not a failed call
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
}

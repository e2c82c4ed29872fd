package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/parleyhq/parley/platform/telemetry"
)

// AdminRoute is one more operator endpoint on the admin listener, such as the gateway's detailed
// readiness report.
type AdminRoute struct {
	Pattern string // a net/http ServeMux pattern, e.g. "GET /readyz"
	Handler http.Handler
}

// MetricsRoute is /metrics on the admin listener: tel's metrics in the Prometheus text format.
func MetricsRoute(tel *telemetry.Telemetry) AdminRoute {
	return AdminRoute{Pattern: "GET /metrics", Handler: tel.MetricsHandler()}
}

// AdminHandler serves what an operator, never a user, reaches: the runtime profiles of
// net/http/pprof under /debug/pprof/, and the routes given. It is mounted only on the admin
// listener (ADMIN_ADDR), never on a service's public port and never routed by the gateway: a CPU
// profile costs the process real work and a heap or goroutine dump shows its internals.
func AdminHandler(routes ...AdminRoute) http.Handler {
	mux := http.NewServeMux()
	index := "admin listener: /debug/pprof/"
	for _, r := range routes {
		mux.Handle(r.Pattern, r.Handler)
		index += ", " + r.Pattern
	}
	mux.HandleFunc("/debug/pprof/", pprof.Index) // also serves heap, goroutine, allocs, block, mutex …
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(index + "\n"))
	})
	return mux
}

// ListenAdmin opens the admin listener on addr (ADMIN_ADDR). An empty addr means no admin
// listener, the default: it returns nil and no error. The dev stack and the deployment manifests
// set it, on a loopback or cluster-internal address.
func ListenAdmin(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil // no listener is the documented answer for "off"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener on %s: %w", addr, err)
	}
	return ln, nil
}

// ServeAdmin serves AdminHandler (with routes) on ln until ctx ends; with a nil ln (no
// ADMIN_ADDR) it returns nil at once.
func ServeAdmin(ctx context.Context, logger *slog.Logger, ln net.Listener, routes ...AdminRoute) error {
	if ln == nil {
		return nil
	}
	srv := &http.Server{
		Handler:           AdminHandler(routes...),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: /debug/pprof/profile and /trace stream for as many seconds as asked.
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("admin listener", slog.String("addr", ln.Addr().String()))
	select {
	case err := <-errc:
		return fmt.Errorf("admin listener: %w", err)
	case <-ctx.Done():
	}
	// A profile being taken is cut short: nothing on this listener is worth delaying a stop for.
	_ = srv.Close()
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin listener: %w", err)
	}
	return nil
}

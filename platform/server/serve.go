package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

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

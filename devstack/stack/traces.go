package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/parleyhq/parley/devstack/traceview"
)

// traceSpans is how many spans the viewer keeps: a few minutes of clicking around, a few seconds
// of a load test.
const traceSpans = 50000

// startTraces runs the trace viewer (package traceview) in this process on 127.0.0.1: the
// services export their spans to it (OTEL_EXPORTER_OTLP_ENDPOINT, see serviceEnv) and it shows
// them at the same address. It runs even when the developer exports elsewhere; it then shows
// nothing.
func (s *Stack) startTraces() error {
	logger := slog.New(slog.NewTextHandler(s.console.Writer("traces"), &slog.HandlerOptions{ReplaceAttr: dropTime}))
	addr := hostPort(s.ep.TracesURL)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("trace viewer on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           traceview.New(traceSpans),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(served)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.fail(fmt.Errorf("trace viewer stopped: %w", err))
		}
	}()
	s.stoppers = append(s.stoppers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.o.StopTimeout)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		<-served
	})
	s.log.Info("trace viewer is up (embedded, development only)", "url", s.ep.TracesURL)
	return nil
}

// TracesURL is the trace viewer's address (its pages and its JSON under /api/traces).
func (s *Stack) TracesURL() string { return s.ep.TracesURL }

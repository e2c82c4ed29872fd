package stack

import (
	"log/slog"

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
	if err := s.serveHTTP("trace viewer", hostPort(s.ep.TracesURL), traceview.New(traceSpans), logger); err != nil {
		return err
	}
	s.log.Info("trace viewer is up (embedded, development only)", "url", s.ep.TracesURL)
	return nil
}

// TracesURL is the trace viewer's address (its pages and its JSON under /api/traces).
func (s *Stack) TracesURL() string { return s.ep.TracesURL }

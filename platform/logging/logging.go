// Package logging builds the slog logger every Parley process uses: readable text locally, JSON in
// production.
package logging

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
)

// New returns a logger writing to stderr. format is "json" or "text"; level is debug, info, warn
// or error (anything else means info). Every line carries the service name.
func New(service, format, level string) *slog.Logger {
	return NewTo(os.Stderr, service, format, level)
}

// NewTo is New writing to w.
func NewTo(w io.Writer, service, format, level string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: ParseLevel(level)}
	var h slog.Handler
	if strings.EqualFold(format, "json") {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h).With(slog.String("service", service))
}

// ParseLevel maps a level name to a slog.Level; unknown names mean info.
func ParseLevel(level string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return slog.LevelInfo
	}
	return l
}

type attrsKey struct{}

type attrSlot struct {
	mu    sync.Mutex
	attrs []slog.Attr
}

// WithAttrSlot returns a context into which inner layers can add attributes (AddAttrs) that an
// outer layer — the request logger — reads back (Attrs) when it writes its one line per request.
func WithAttrSlot(ctx context.Context) context.Context {
	return context.WithValue(ctx, attrsKey{}, &attrSlot{})
}

// AddAttrs records attributes for the request's log line; without a slot it does nothing.
func AddAttrs(ctx context.Context, attrs ...slog.Attr) {
	if s, ok := ctx.Value(attrsKey{}).(*attrSlot); ok {
		s.mu.Lock()
		s.attrs = append(s.attrs, attrs...)
		s.mu.Unlock()
	}
}

// Attrs returns what AddAttrs recorded.
func Attrs(ctx context.Context) []slog.Attr {
	if s, ok := ctx.Value(attrsKey{}).(*attrSlot); ok {
		s.mu.Lock()
		defer s.mu.Unlock()
		return append([]slog.Attr(nil), s.attrs...)
	}
	return nil
}

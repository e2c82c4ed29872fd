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
	"time"
)

// New returns a logger writing to stderr through a buffer, and the function that writes out what
// is buffered (main defers it). format is "json" or "text"; level is debug, info, warn or error
// (anything else means info). Every line carries the service name.
//
// Lines are written out when FlushInterval has passed since the first one waiting, when
// BufferSize bytes wait, and at once with a warning or an error, so a line that matters is never
// held back and a crash loses at most FlushInterval of routine lines. A service logs one line per
// request; unbuffered, each was a write system call of its own (docs/performance.md).
func New(service, format, level string) (*slog.Logger, func()) {
	b := newBufferedWriter(os.Stderr, BufferSize, FlushInterval)
	h := handler(b, format, level)
	return slog.New(flushOnWarning{Handler: h, b: b}).With(slog.String("service", service)), b.flush
}

// NewTo is New writing to w as each line is logged, without a buffer.
func NewTo(w io.Writer, service, format, level string) *slog.Logger {
	return slog.New(handler(w, format, level)).With(slog.String("service", service))
}

func handler(w io.Writer, format, level string) slog.Handler {
	opts := &slog.HandlerOptions{Level: ParseLevel(level)}
	if strings.EqualFold(format, "json") {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// BufferSize and FlushInterval bound how much and for how long New's logger holds lines back.
const (
	BufferSize    = 32 << 10
	FlushInterval = 100 * time.Millisecond
)

// bufferedWriter collects whole lines (slog writes a record with one Write) and writes them out in
// one call after interval, when size bytes wait, or on flush.
type bufferedWriter struct {
	w        io.Writer
	size     int
	interval time.Duration

	mu    sync.Mutex
	buf   []byte
	timer *time.Timer // armed while lines wait
}

func newBufferedWriter(w io.Writer, size int, interval time.Duration) *bufferedWriter {
	return &bufferedWriter{w: w, size: size, interval: interval}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) >= b.size {
		b.flushLocked()
		return len(p), nil
	}
	if b.timer == nil {
		b.timer = time.AfterFunc(b.interval, b.flush)
	}
	return len(p), nil
}

func (b *bufferedWriter) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

func (b *bufferedWriter) flushLocked() {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if len(b.buf) == 0 {
		return
	}
	_, _ = b.w.Write(b.buf) // nowhere to report a failed log write
	b.buf = b.buf[:0]
}

// flushOnWarning writes the buffer out after every record at warning level or above.
type flushOnWarning struct {
	slog.Handler
	b *bufferedWriter
}

func (h flushOnWarning) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		h.b.flush()
	}
	return err
}

func (h flushOnWarning) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushOnWarning{Handler: h.Handler.WithAttrs(attrs), b: h.b}
}

func (h flushOnWarning) WithGroup(name string) slog.Handler {
	return flushOnWarning{Handler: h.Handler.WithGroup(name), b: h.b}
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

package logging

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a sink the test reads while the logger's timer writes.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuffer) get() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String(), s.writes
}

func newBuffered(sink *syncBuffer, size int, interval time.Duration) (*slog.Logger, func()) {
	b := newBufferedWriter(sink, size, interval)
	return slog.New(flushOnWarning{Handler: handler(b, "json", "debug"), b: b}).With(slog.String("service", "test")), b.flush
}

func TestBufferedLinesWaitForTheIntervalThenGoOutTogether(t *testing.T) {
	sink := &syncBuffer{}
	log, _ := newBuffered(sink, 1<<20, 50*time.Millisecond)
	for i := range 10 {
		log.Info("request", slog.Int("n", i))
	}
	if out, _ := sink.get(); out != "" {
		t.Fatalf("info lines were written at once: %q", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, writes := sink.get()
		if strings.Count(out, "\n") == 10 {
			if writes != 1 {
				t.Fatalf("10 lines took %d writes, want 1", writes)
			}
			if !strings.Contains(out, `"n":0`) || !strings.Contains(out, `"n":9`) || strings.Index(out, `"n":0`) > strings.Index(out, `"n":9`) {
				t.Fatalf("lines out of order or missing: %s", out)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the interval: %q", out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWarningsAndErrorsAreWrittenAtOnceWithWhatWaited(t *testing.T) {
	sink := &syncBuffer{}
	log, _ := newBuffered(sink, 1<<20, time.Hour)
	log.Info("before")
	log.With(slog.String("conn", "c1")).Warn("slow consumer") // a derived logger flushes too
	out, _ := sink.get()
	if !strings.Contains(out, `"msg":"before"`) || !strings.Contains(out, `"msg":"slow consumer"`) || !strings.Contains(out, `"conn":"c1"`) {
		t.Fatalf("a warning did not write itself and what waited before it: %q", out)
	}
	log.Error("failed")
	if out, _ := sink.get(); !strings.Contains(out, `"msg":"failed"`) {
		t.Fatalf("an error waited: %q", out)
	}
}

func TestAFullBufferAndFlushWriteAtOnce(t *testing.T) {
	sink := &syncBuffer{}
	log, flush := newBuffered(sink, 200, time.Hour)
	log.Info("one")
	if out, _ := sink.get(); out != "" {
		t.Fatalf("written before the buffer filled: %q", out)
	}
	log.Info(strings.Repeat("x", 300))
	if out, _ := sink.get(); !strings.Contains(out, `"msg":"one"`) {
		t.Fatalf("a full buffer was not written: %q", out)
	}
	log.Info("last")
	flush()
	if out, _ := sink.get(); !strings.Contains(out, `"msg":"last"`) {
		t.Fatalf("flush left a line behind: %q", out)
	}
	_ = context.Background()
}

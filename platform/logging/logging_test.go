package logging

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/platform/logtest"
	"github.com/parleyhq/parley/platform/waittest"
)

func newBuffered(sink *logtest.Buffer, size int, interval time.Duration) (*slog.Logger, func()) {
	b := newBufferedWriter(sink, size, interval)
	return slog.New(flushOnWarning{Handler: handler(b, "json", "debug"), b: b}).With(slog.String("service", "test")), b.flush
}

func TestBufferedLinesWaitForTheIntervalThenGoOutTogether(t *testing.T) {
	sink := &logtest.Buffer{}
	log, _ := newBuffered(sink, 1<<20, 50*time.Millisecond)
	for i := range 10 {
		log.Info("request", slog.Int("n", i))
	}
	if out := sink.String(); out != "" {
		t.Fatalf("info lines were written at once: %q", out)
	}
	var out string
	waittest.UntilNil(t, "the 10 lines after the interval", func() error {
		if out = sink.String(); strings.Count(out, "\n") != 10 {
			return fmt.Errorf("written so far: %q", out)
		}
		return nil
	})
	if writes := sink.Writes(); writes != 1 {
		t.Fatalf("10 lines took %d writes, want 1", writes)
	}
	if !strings.Contains(out, `"n":0`) || !strings.Contains(out, `"n":9`) || strings.Index(out, `"n":0`) > strings.Index(out, `"n":9`) {
		t.Fatalf("lines out of order or missing: %s", out)
	}
}

func TestWarningsAndErrorsAreWrittenAtOnceWithWhatWaited(t *testing.T) {
	sink := &logtest.Buffer{}
	log, _ := newBuffered(sink, 1<<20, time.Hour)
	log.Info("before")
	log.With(slog.String("conn", "c1")).Warn("slow consumer") // a derived logger flushes too
	out := sink.String()
	if !strings.Contains(out, `"msg":"before"`) || !strings.Contains(out, `"msg":"slow consumer"`) || !strings.Contains(out, `"conn":"c1"`) {
		t.Fatalf("a warning did not write itself and what waited before it: %q", out)
	}
	log.Error("failed")
	if out := sink.String(); !strings.Contains(out, `"msg":"failed"`) {
		t.Fatalf("an error waited: %q", out)
	}
}

func TestAFullBufferAndFlushWriteAtOnce(t *testing.T) {
	sink := &logtest.Buffer{}
	log, flush := newBuffered(sink, 200, time.Hour)
	log.Info("one")
	if out := sink.String(); out != "" {
		t.Fatalf("written before the buffer filled: %q", out)
	}
	log.Info(strings.Repeat("x", 300))
	if out := sink.String(); !strings.Contains(out, `"msg":"one"`) {
		t.Fatalf("a full buffer was not written: %q", out)
	}
	log.Info("last")
	flush()
	if out := sink.String(); !strings.Contains(out, `"msg":"last"`) {
		t.Fatalf("flush left a line behind: %q", out)
	}
	_ = context.Background()
}

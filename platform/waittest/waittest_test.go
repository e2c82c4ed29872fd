package waittest_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parleyhq/parley/platform/waittest"
)

// recorder is a testing.TB whose Fatalf records the failure and ends the goroutine, as t.Fatalf
// does, so a test can check what a helper fails with.
type recorder struct {
	testing.TB
	failure string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failure = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with a recorder in its own goroutine and returns the failure, "" for none.
func run(t *testing.T, f func(testing.TB)) string {
	r := &recorder{TB: t}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		f(r)
	}()
	<-finished
	return r.failure
}

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	var polls atomic.Int32
	if failure := run(t, func(tb testing.TB) {
		waittest.Until(tb, "the third poll", func() bool { return polls.Add(1) == 3 })
	}); failure != "" || polls.Load() != 3 {
		t.Fatalf("failure %q after %d polls; want none after 3", failure, polls.Load())
	}
}

func TestUntilNilReportsTheLastError(t *testing.T) {
	var polls atomic.Int32
	failure := run(t, func(tb testing.TB) {
		waittest.UntilNil(tb, "a check", func() error {
			if polls.Add(1) < 3 {
				return errors.New("still starting")
			}
			return nil
		})
	})
	if failure != "" {
		t.Fatalf("failure %q; want none", failure)
	}
}

func TestReadyWaitsForReadyz(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || !ready.Load() {
			ready.Store(true) // ready from the next poll on
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	}))
	defer srv.Close()
	done := make(chan error, 1)
	if failure := run(t, func(tb testing.TB) { waittest.Ready(tb, srv.URL, done) }); failure != "" {
		t.Fatalf("failure %q; want none", failure)
	}
}

// A service that stops before it is ready fails the wait at once with its error, and the error
// stays on done for the cleanup that waits for the service (before, the wait took it and such a
// cleanup hung for ever).
func TestReadyFailsWhenTheServiceStopsAndLeavesItsResult(t *testing.T) {
	done := make(chan error, 1)
	done <- errors.New("listen: address in use")
	failure := run(t, func(tb testing.TB) { waittest.Ready(tb, "http://127.0.0.1:1", done) })
	if !strings.Contains(failure, "run returned before it was ready: listen: address in use") {
		t.Fatalf("failure %q; want the service's error", failure)
	}
	select {
	case err := <-done:
		if err == nil || err.Error() != "listen: address in use" {
			t.Fatalf("done holds %v; want the service's error", err)
		}
	default:
		t.Fatal("the service's result was taken off done")
	}
}

func TestStoppedChecksTheResultAndLeavesIt(t *testing.T) {
	clean := make(chan error, 1)
	clean <- nil
	if failure := run(t, func(tb testing.TB) { waittest.Stopped(tb, clean) }); failure != "" {
		t.Fatalf("failure %q for a clean stop; want none", failure)
	}
	if len(clean) != 1 {
		t.Fatal("the result was taken off done")
	}
	failed := make(chan error, 1)
	failed <- errors.New("relay: flush: broker gone")
	if failure := run(t, func(tb testing.TB) { waittest.Stopped(tb, failed) }); !strings.Contains(failure, "relay: flush: broker gone") {
		t.Fatalf("failure %q; want run's error", failure)
	}
}

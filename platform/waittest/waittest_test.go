package waittest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parleyhq/parley/platform/waittest"
)

// recorder is a testing.TB whose Fatalf records the failure and ends the goroutine, as t.Fatalf
// does, so a test can check what a helper fails with. It keeps the cleanups a helper registers
// for cleanUp to run.
type recorder struct {
	testing.TB
	failure  string
	cleanups []func()
}

func (r *recorder) Helper() {}

func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

// cleanUp runs r's cleanups, last registered first, as the test's end would, and returns the
// failure they end with, "" for none.
func (r *recorder) cleanUp() string {
	r.failure = ""
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		finished := make(chan struct{})
		go func() {
			defer close(finished)
			r.cleanups[i]()
		}()
		<-finished
	}
	return r.failure
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failure = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with a recorder in its own goroutine and returns the failure, "" for none.
func run(t *testing.T, f func(testing.TB)) string {
	return runOn(&recorder{TB: t}, f)
}

// runOn is run with the recorder given, for a test that runs its cleanups afterwards.
func runOn(r *recorder, f func(testing.TB)) string {
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

// fakeService is a service's runOn for StartService: it serves /readyz on ln, 503 until it has
// been asked twice, and returns stopErr once its context ends. returned is closed when it returns.
type fakeService struct {
	polls    atomic.Int32
	stopErr  error
	returned chan struct{}
}

func newFakeService(stopErr error) *fakeService {
	return &fakeService{stopErr: stopErr, returned: make(chan struct{})}
}

func (f *fakeService) run(ctx context.Context, ln net.Listener) error {
	defer close(f.returned)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || f.polls.Add(1) < 3 {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return f.stopErr
}

// isRunning reports whether f's run has not returned yet.
func (f *fakeService) isRunning() bool {
	select {
	case <-f.returned:
		return false
	default:
		return true
	}
}

func TestStartServiceWaitsUntilReadyAndStopsCleanly(t *testing.T) {
	svc := newFakeService(nil)
	r := &recorder{TB: t}
	var base string
	var stop func()
	if failure := runOn(r, func(tb testing.TB) { base, stop = waittest.StartService(tb, svc.run) }); failure != "" {
		t.Fatalf("failure %q; want none", failure)
	}
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("base URL %q; want a loopback address", base)
	}
	if svc.polls.Load() < 3 || !svc.isRunning() {
		t.Fatalf("StartService returned after %d polls of /readyz, service running %v; want ready and running", svc.polls.Load(), svc.isRunning())
	}
	res, err := http.Get(base + "/readyz")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/readyz = %v, %v; want the service", base, res, err)
	}
	_ = res.Body.Close()
	if failure := runOn(r, func(testing.TB) { stop() }); failure != "" || svc.isRunning() {
		t.Fatalf("stop: failure %q, service running %v; want a clean stop", failure, svc.isRunning())
	}
	if failure := r.cleanUp(); failure != "" {
		t.Fatalf("cleanup after a clean stop fails with %q", failure)
	}
}

// A test that never calls stop still ends the service, and still hears of its error.
func TestStartServiceCleanupStopsTheServiceAndChecksItsResult(t *testing.T) {
	svc := newFakeService(errors.New("relay: flush: broker gone"))
	r := &recorder{TB: t}
	if failure := runOn(r, func(tb testing.TB) { waittest.StartService(tb, svc.run) }); failure != "" {
		t.Fatalf("failure %q; want none", failure)
	}
	if failure := r.cleanUp(); !strings.Contains(failure, "relay: flush: broker gone") || svc.isRunning() {
		t.Fatalf("cleanup: failure %q, service running %v; want it stopped and its error reported", failure, svc.isRunning())
	}
}

// The address is known before the service starts, and it is the one served.
func TestStartServiceOnServesOnTheListenerGiven(t *testing.T) {
	svc := newFakeService(nil)
	r := &recorder{TB: t}
	var ln net.Listener
	var base string
	runOn(r, func(tb testing.TB) {
		ln = waittest.Listen(tb)
		base, _ = waittest.StartServiceOn(tb, ln, svc.run)
	})
	if r.failure != "" || base != "http://"+ln.Addr().String() {
		t.Fatalf("failure %q, base URL %q; want none and the listener's %s", r.failure, base, ln.Addr())
	}
	if failure := r.cleanUp(); failure != "" || svc.isRunning() {
		t.Fatalf("cleanup: failure %q, service running %v; want a clean stop", failure, svc.isRunning())
	}
}

func TestStartServiceFailsWhenTheServiceDoesNotStart(t *testing.T) {
	r := &recorder{TB: t}
	failure := runOn(r, func(tb testing.TB) {
		waittest.StartService(tb, func(context.Context, net.Listener) error { return errors.New("DATABASE_URL is required") })
	})
	if !strings.Contains(failure, "run returned before it was ready: DATABASE_URL is required") {
		t.Fatalf("failure %q; want the service's error", failure)
	}
	r.cleanUp()
}

func TestGoStopsRunAndChecksItsResult(t *testing.T) {
	r := &recorder{TB: t}
	var stop func()
	runOn(r, func(tb testing.TB) {
		stop = waittest.Go(tb, func(ctx context.Context) error {
			<-ctx.Done()
			return fmt.Errorf("consumer: commit: %w", ctx.Err())
		})
	})
	if failure := runOn(r, func(testing.TB) { stop() }); !strings.Contains(failure, "consumer: commit: context canceled") {
		t.Fatalf("stop: failure %q; want run's error", failure)
	}
	if failure := r.cleanUp(); !strings.Contains(failure, "consumer: commit: context canceled") {
		t.Fatalf("cleanup after stop: failure %q; want run's error again", failure)
	}
}

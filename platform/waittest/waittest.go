// Package waittest waits in tests for something that happens asynchronously — a consumer that
// has applied an event, a service that has become ready — by polling a condition until a
// deadline, never by sleeping a fixed time.
//
// Use Until for a condition, UntilNil for a check that says why it does not hold yet,
// StartService for a whole service run in the test (its runOn on a loopback port, waited for until
// ready, stopped cleanly), and Go for anything else that runs until its context ends (a relay, a
// consumer, a service that is never ready in its test). Ready and Stopped are the waits these two
// are made of. An address for a service in the test to listen on itself is proctest.FreeAddr.
package waittest

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/parleyhq/parley/platform/proctest"
)

// Timeout bounds every wait. What is waited for takes well under a second; the bound is generous
// so that a loaded CI machine does not fail a test that would pass.
const Timeout = 30 * time.Second

// interval is the pause between two polls.
const interval = 20 * time.Millisecond

// Until polls cond until it holds, failing t when Timeout passes first. what names the
// condition in the failure ("the profile through the API").
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	UntilNil(t, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

// UntilNil polls check until it returns nil, failing t with check's last error when Timeout
// passes first.
func UntilNil(t testing.TB, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			if errors.Is(err, errNotYet) {
				t.Fatalf("timed out after %v waiting for %s", Timeout, what)
			}
			t.Fatalf("timed out after %v waiting for %s: %v", Timeout, what, err)
		}
		time.Sleep(interval)
	}
}

type notYet struct{}

func (notYet) Error() string { return "not yet" }

var errNotYet error = notYet{}

// Ready polls baseURL's /readyz until it answers 200, failing t when Timeout passes first or when
// the service stops first: done is the channel its run function's result is sent on. A result
// read from done is sent back, so a cleanup waiting on done still sees it (done needs room for
// it: make(chan error, 1)).
func Ready(t testing.TB, baseURL string, done chan error) {
	t.Helper()
	UntilNil(t, baseURL+" to be ready", func() error {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("run returned before it was ready: %v", err)
		default:
		}
		return proctest.HTTPOK(baseURL + "/readyz")
	})
}

// Stopped waits for a service's run function to return after its context ended: done is the
// channel its result is sent on. It fails t when run returns an error or not within Timeout. The
// result is sent back on done, like Ready does, for a cleanup that waits on it too.
func Stopped(t testing.TB, done chan error) {
	t.Helper()
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("run returned %v after its context ended; want nil", err)
		}
	case <-time.After(Timeout):
		t.Fatalf("run did not return within %v of its context ending", Timeout)
	}
}

// Go runs run in a goroutine until stop is called or the test ends. stop cancels run's context
// and waits for run to return, failing t (as Stopped does) when it returns an error or not within
// Timeout; calling it again, or letting the test's cleanup call it, checks the same result again.
func Go(t testing.TB, run func(ctx context.Context) error) (stop func()) {
	t.Helper()
	_, stop = goRun(t, run)
	return stop
}

// goRun is Go, also returning the channel run's result is sent on, for Ready.
func goRun(t testing.TB, run func(ctx context.Context) error) (done chan error, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan error, 1)
	go func() { done <- run(ctx) }()
	stop = func() {
		t.Helper()
		cancel()
		Stopped(t, done)
	}
	t.Cleanup(stop)
	return done, stop
}

// StartService runs a service in the test as main would, on a fresh loopback port, and waits
// until it is ready (Ready). run is the service's start-up on a listener already open — its runOn,
// e.g. func(ctx context.Context, ln net.Listener) error { return runOn(ctx, logger, nil, ln) }.
// It returns the service's base URL ("http://127.0.0.1:port") and stop, which ends the service
// and fails t unless it returns nil in time (Go); the test's cleanup calls stop too.
func StartService(t testing.TB, run func(ctx context.Context, ln net.Listener) error) (baseURL string, stop func()) {
	t.Helper()
	return StartServiceOn(t, Listen(t), run)
}

// StartServiceOn is StartService on ln, for a test that must know the service's address before
// it starts it (to put it in the service's configuration): open ln with Listen.
func StartServiceOn(t testing.TB, ln net.Listener, run func(ctx context.Context, ln net.Listener) error) (baseURL string, stop func()) {
	t.Helper()
	baseURL = "http://" + ln.Addr().String()
	done, stop := goRun(t, func(ctx context.Context) error {
		// Closed when run returns, so that Ready's request is refused, not left waiting on a
		// listener nothing accepts on, when run fails before it serves.
		defer func() { _ = ln.Close() }()
		return run(ctx, ln)
	})
	Ready(t, baseURL, done)
	return baseURL, stop
}

// Listen opens a listener on a free loopback port, for StartServiceOn. It is closed when the test
// ends if the service has not closed it.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on a loopback port: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

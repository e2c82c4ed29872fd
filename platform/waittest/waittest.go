// Package waittest waits in tests for something that happens asynchronously — a consumer that
// has applied an event, a service that has become ready — by polling a condition until a
// deadline, never by sleeping a fixed time.
//
// Use Until for a condition, UntilNil for a check that says why it does not hold yet, and Ready
// and Stopped for a service started with runOn in a goroutine.
package waittest

import (
	"errors"
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

// Package backoff paces a loop that retries a failing dependency (a broker, a database, a mail
// server): Delay says how long to wait before the next attempt, Sleep waits it unless the
// context ends first.
//
// Use it for retries that many processes may make at once after the same outage: the jitter
// keeps replicas that failed together from retrying together.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Delay is the wait before retry n (from 1): first doubled each time up to limit, then between
// half and all of that at random ("equal jitter"). It is never over limit and, for n >= 1, never
// under min(first, limit)/2. A first or limit of 0 or less waits nothing.
func Delay(first, limit time.Duration, n int) time.Duration {
	d := first
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// Sleep waits d or until ctx ends, and reports whether it waited the whole d (false: stop
// retrying, the caller is shutting down).
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

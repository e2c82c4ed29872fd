// Package retry paces repeated attempts at something that failed — reaching Kafka or Redis,
// delivering an event — with one back-off rule, so that every retry loop waits the same way and
// processes that failed together do not retry together. Use it in any loop that tries again
// after a failure until its context ends.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is the wait before the next attempt after n failed ones (n from 1): first doubled per
// failure up to limit, of which a random half is taken off ("equal jitter"), so it is never under
// half of min(first, limit). A first or limit of 0 or less waits nothing.
func Backoff(first, limit time.Duration, n int) time.Duration {
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

// Sleep waits d or until ctx ends, and reports whether it waited the whole d.
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

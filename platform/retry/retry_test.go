package retry_test

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley/platform/retry"
)

func TestBackoffDoublesUpToTheLimitWithJitter(t *testing.T) {
	const first, limit = 100 * time.Millisecond, time.Second
	for n, full := range map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		4: 800 * time.Millisecond, 5: time.Second, 40: time.Second, 1 << 20: time.Second,
	} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := retry.Backoff(first, limit, n)
			if d < full/2 || d > full {
				t.Fatalf("Backoff(%v, %v, %d) = %v, want within [%v, %v]", first, limit, n, d, full/2, full)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Fatalf("Backoff(…, %d) always %v: no jitter", n, seen)
		}
	}
	if d := retry.Backoff(0, time.Second, 3); d != 0 {
		t.Fatalf("Backoff with first 0 = %v, want 0", d)
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	if !retry.Sleep(t.Context(), time.Millisecond) {
		t.Fatal("Sleep did not report a whole wait")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	start := time.Now()
	if retry.Sleep(ctx, time.Hour) {
		t.Fatal("Sleep on an ended context reported a whole wait")
	}
	if time.Since(start) > time.Second {
		t.Fatal("Sleep did not end with its context")
	}
}

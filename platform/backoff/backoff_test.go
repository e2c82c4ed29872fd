package backoff_test

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley/platform/backoff"
)

func TestDelayDoublesUpToTheLimitWithJitter(t *testing.T) {
	const first, limit = 100 * time.Millisecond, 2 * time.Second
	for _, tc := range []struct {
		n    int
		base time.Duration // the wait before jitter
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{5, 1600 * time.Millisecond},
		{6, limit},
		{1000, limit}, // no overflow however many failures
	} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := backoff.Delay(first, limit, tc.n)
			if d < tc.base/2 || d > tc.base {
				t.Fatalf("Delay(n=%d) = %v, want between %v and %v", tc.n, d, tc.base/2, tc.base)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("Delay(n=%d) gave %v every time: no jitter", tc.n, seen)
		}
	}
}

func TestDelayWithFirstOverLimit(t *testing.T) {
	if d := backoff.Delay(5*time.Second, time.Second, 1); d < 500*time.Millisecond || d > time.Second {
		t.Fatalf("Delay = %v, want within the limit of 1s", d)
	}
	if d := backoff.Delay(0, time.Second, 3); d != 0 {
		t.Fatalf("Delay with first 0 = %v, want 0", d)
	}
}

func TestSleep(t *testing.T) {
	start := time.Now()
	if !backoff.Sleep(context.Background(), 20*time.Millisecond) {
		t.Fatal("Sleep with a live context reported an interruption")
	}
	if waited := time.Since(start); waited < 20*time.Millisecond {
		t.Fatalf("Sleep returned after %v, want at least 20ms", waited)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start = time.Now()
	if backoff.Sleep(ctx, time.Hour) {
		t.Fatal("Sleep with an ended context reported a full wait")
	}
	if waited := time.Since(start); waited > time.Second {
		t.Fatalf("Sleep with an ended context took %v", waited)
	}
}

func TestDelayOfNothingIsNothing(t *testing.T) {
	for _, c := range [][2]time.Duration{{0, time.Second}, {time.Second, 0}, {-time.Second, time.Second}} {
		if d := backoff.Delay(c[0], c[1], 3); d != 0 {
			t.Errorf("Delay(%v, %v, 3) = %v; want 0", c[0], c[1], d)
		}
	}
}

package ratelimit_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley/platform/logtest"
	"github.com/parleyhq/parley/platform/proctest"
	"github.com/parleyhq/parley/platform/redisconn"
	"github.com/parleyhq/parley/platform/redistest"

	"github.com/parleyhq/parley/services/gateway/internal/ratelimit"
)

// clock is a settable time for the limiter.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newLimiter(t *testing.T, clk *clock) *ratelimit.Limiter {
	t.Helper()
	redis := redistest.New(t)
	return ratelimit.New(slog.New(slog.DiscardHandler), ratelimit.Options{
		Redis: func() rueidis.Client { return redis }, Prefix: "test:rl:" + rand.Text() + ":", Now: clk.now,
	})
}

func TestLimitWithinOneWindow(t *testing.T) {
	t.Parallel()
	clk := &clock{}
	// Windows are aligned to multiples of their length; start 1s into one.
	clk.set(time.UnixMilli(1_000_000_000_000 + 1000))
	l := newLimiter(t, clk)
	ctx := t.Context()
	for i := range 5 {
		d := l.Allow(ctx, "k", 5, 10*time.Second)
		if !d.Allowed || d.FailedOpen {
			t.Fatalf("request %d refused: %+v", i+1, d)
		}
		if d.Remaining != 5-(i+1) {
			t.Fatalf("request %d: remaining %d", i+1, d.Remaining)
		}
	}
	d := l.Allow(ctx, "k", 5, 10*time.Second)
	if d.Allowed || d.RetryAfter <= 0 {
		t.Fatalf("6th request: %+v", d)
	}
	// Keys are independent.
	if d := l.Allow(ctx, "other", 5, 10*time.Second); !d.Allowed {
		t.Fatalf("another key refused: %+v", d)
	}
}

// The caller may come back exactly after RetryAfter, and not noticeably sooner; the previous
// window still counts (no double burst at the boundary).
func TestRetryAfterIsExact(t *testing.T) {
	t.Parallel()
	const window = 10 * time.Second
	for _, tc := range []struct {
		name       string
		startInWin time.Duration // where in the window the burst happens
		limit      int
	}{
		{"burst early in the window", 1 * time.Second, 4},
		{"burst late in the window", 9 * time.Second, 4},
		{"limit of one", 5 * time.Second, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{}
			base := time.UnixMilli(1_000_000_000_000) // a multiple of 10s
			clk.set(base.Add(tc.startInWin))
			l := newLimiter(t, clk)
			ctx := t.Context()
			for range tc.limit {
				if d := l.Allow(ctx, "k", tc.limit, window); !d.Allowed {
					t.Fatalf("within the limit: %+v", d)
				}
			}
			d := l.Allow(ctx, "k", tc.limit, window)
			if d.Allowed {
				t.Fatal("over the limit was allowed")
			}
			wait := d.RetryAfter
			// Just past the window boundary the previous burst still weighs in.
			clk.set(base.Add(window + time.Millisecond))
			if wait > window-tc.startInWin+time.Millisecond {
				if d := l.Allow(ctx, "k", tc.limit, window); d.Allowed {
					t.Fatalf("allowed right after the boundary although RetryAfter was %v", wait)
				}
			}
			clk.set(base.Add(tc.startInWin + wait - 50*time.Millisecond))
			if d := l.Allow(ctx, "k", tc.limit, window); d.Allowed {
				t.Fatalf("allowed 50ms before RetryAfter (%v)", wait)
			}
			clk.set(base.Add(tc.startInWin + wait))
			if d := l.Allow(ctx, "k", tc.limit, window); !d.Allowed {
				t.Fatalf("refused at RetryAfter (%v): %+v", wait, d)
			}
		})
	}
}

func TestConcurrentRequestsAreCountedAtomically(t *testing.T) {
	t.Parallel()
	clk := &clock{}
	clk.set(time.UnixMilli(1_000_000_000_000 + 1))
	l := newLimiter(t, clk)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 60 {
		wg.Go(func() {
			if l.Allow(context.Background(), "hot", 25, time.Minute).Allowed {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 25 {
		t.Fatalf("%d of 60 concurrent requests allowed, want exactly 25", n)
	}
}

func TestZeroLimitIsUnlimited(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(slog.New(slog.DiscardHandler), ratelimit.Options{})
	if d := l.Allow(t.Context(), "k", 0, time.Minute); !d.Allowed || d.FailedOpen {
		t.Fatalf("%+v", d)
	}
}

func TestFailsOpenWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	addr := proctest.FreeAddr(t)

	var logs logtest.Buffer
	// Wired as run.go does: the gateway's one client, read by the limiter (nil until it connects).
	redis, err := redisconn.OpenInBackground(t.Context(), "redis://"+addr, redisconn.Retry{})
	if err != nil {
		t.Fatalf("an unreachable Redis must not stop the gateway: %v", err)
	}
	defer redis.Close()
	l := ratelimit.New(slog.New(slog.NewTextHandler(&logs, nil)), ratelimit.Options{Redis: redis.Client})
	for range 3 {
		if d := l.Allow(t.Context(), "k", 1, time.Minute); !d.Allowed || !d.FailedOpen {
			t.Fatalf("with Redis down: %+v", d)
		}
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "redis") {
		t.Fatalf("no warning logged: %s", logs.String())
	}
	if err := l.Ping(t.Context()); err == nil {
		t.Fatal("Ping succeeded without Redis")
	}
	if _, err := redisconn.OpenInBackground(t.Context(), "::not a url", redisconn.Retry{}); err == nil {
		t.Fatal("a malformed REDIS_URL was accepted")
	}
}

// After a failed round trip Redis is left alone for the backoff, then asked again.
func TestBackoffAfterFailure(t *testing.T) {
	t.Parallel()
	clk := &clock{}
	clk.set(time.UnixMilli(1_000_000_000_000 + 1))
	redis := redistest.New(t)
	l := ratelimit.New(slog.New(slog.DiscardHandler), ratelimit.Options{
		Redis: func() rueidis.Client { return redis }, Prefix: "test:rl:" + rand.Text() + ":", Now: clk.now, Backoff: 5 * time.Second,
	})

	if d := l.Allow(t.Context(), "k", 1, time.Minute); !d.Allowed || d.FailedOpen {
		t.Fatalf("first: %+v", d)
	}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if d := l.Allow(canceled, "k", 1, time.Minute); !d.Allowed || !d.FailedOpen {
		t.Fatalf("failed round trip: %+v", d)
	}
	// Within the backoff: allowed without asking Redis (which would refuse: the limit is used).
	clk.advance(4 * time.Second)
	if d := l.Allow(t.Context(), "k", 1, time.Minute); !d.Allowed || !d.FailedOpen {
		t.Fatalf("during backoff: %+v", d)
	}
	clk.advance(2 * time.Second)
	if d := l.Allow(t.Context(), "k", 1, time.Minute); d.Allowed {
		t.Fatalf("after backoff Redis was not asked: %+v", d)
	}
}

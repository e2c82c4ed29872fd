// Package ratelimit counts requests per key in Redis with a sliding window and says whether one
// more is allowed.
//
// The window is the "sliding window counter" approximation: the count of the current fixed window
// plus the previous window's count weighted by how much of it still overlaps the sliding window.
// It needs two integers per key, one atomic Lua script per request, and does not allow the double
// burst a plain fixed window allows at a window boundary.
//
// When Redis cannot be reached the limiter fails open: the request is allowed and a warning is
// logged (at most every few seconds). The gateway prefers serving people during a Redis outage to
// refusing everyone; the services behind it keep their own protections (argon2 cost, auth checks).
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley/platform/defaults"
)

// script checks and counts one request. KEYS[1] is the current window's counter, KEYS[2] the
// previous window's; ARGV are the limit, the window length and the time elapsed in the current
// window (milliseconds). A refused request is not counted. It returns {allowed, current, previous}.
var script = rueidis.NewLuaScript(`
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local elapsed = tonumber(ARGV[3])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
if prev * (window - elapsed) / window + cur + 1 > limit then
  return {0, cur, prev}
end
cur = redis.call('INCR', KEYS[1])
if cur == 1 then
  redis.call('PEXPIRE', KEYS[1], window * 2)
end
return {1, cur, prev}
`)

// Decision is the outcome of one check.
type Decision struct {
	Allowed bool
	// RetryAfter is how long a refused caller should wait before the next request can pass.
	RetryAfter time.Duration
	// Remaining is how many more requests the window allows (an estimate; 0 when refused).
	Remaining int
	// FailedOpen is set when the decision was made without Redis.
	FailedOpen bool
}

// Options tune a Limiter.
type Options struct {
	// Redis returns the gateway's one Redis client (which the limiter does not close), nil while
	// it is not connected: until then every request is allowed (and a warning logged, as for any
	// other Redis failure). Nil: never connected.
	Redis func() rueidis.Client
	// Prefix starts every key (default "parley:gateway:rl:"). Tests use a random one.
	Prefix string
	// Timeout bounds one Redis round trip (default 250ms); past it the request is allowed.
	Timeout time.Duration
	// Backoff is how long Redis is not asked at all after it failed (default 2s), so an outage
	// does not add Timeout to every request.
	Backoff time.Duration
	// Now is the clock (tests).
	Now func() time.Time
}

// Limiter checks request rates in Redis.
type Limiter struct {
	logger *slog.Logger
	opts   Options

	skipUntil atomic.Int64 // unix nanos before which Redis is not asked
	lastWarn  atomic.Int64 // unix nanos of the last fail-open warning
}

// New returns a Limiter.
func New(logger *slog.Logger, opts Options) *Limiter {
	if opts.Redis == nil {
		opts.Redis = func() rueidis.Client { return nil }
	}
	if opts.Prefix == "" {
		opts.Prefix = "parley:gateway:rl:"
	}
	opts.Timeout = defaults.Positive(opts.Timeout, 250*time.Millisecond)
	opts.Backoff = defaults.Positive(opts.Backoff, 2*time.Second)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Limiter{logger: logger, opts: opts}
}

// Ping reports whether Redis answers (for the readiness report; the limiter does not need it).
func (l *Limiter) Ping(ctx context.Context) error {
	c := l.opts.Redis()
	if c == nil {
		return errors.New("not connected")
	}
	return c.Do(ctx, c.B().Ping().Build()).Error()
}

// Allow counts one request against key's limit per window and says whether it may pass. limit <= 0
// means unlimited.
func (l *Limiter) Allow(ctx context.Context, key string, limit int, window time.Duration) Decision {
	if limit <= 0 || window <= 0 {
		return Decision{Allowed: true, Remaining: math.MaxInt}
	}
	now := l.opts.Now()
	if now.UnixNano() < l.skipUntil.Load() {
		return Decision{Allowed: true, FailedOpen: true}
	}
	c := l.opts.Redis()
	if c == nil {
		l.warn(ctx, errors.New("redis not connected"))
		return Decision{Allowed: true, FailedOpen: true}
	}

	w := window.Milliseconds()
	if w <= 0 {
		w = 1
	}
	nowMs := now.UnixMilli()
	idx := nowMs / w
	elapsed := nowMs - idx*w
	base := l.opts.Prefix + "{" + key + "}:" // hash tag: both windows on one cluster slot
	keys := []string{base + strconv.FormatInt(idx, 10), base + strconv.FormatInt(idx-1, 10)}
	args := []string{strconv.Itoa(limit), strconv.FormatInt(w, 10), strconv.FormatInt(elapsed, 10)}

	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	vals, err := script.Exec(ctx, c, keys, args).AsIntSlice()
	if err == nil && len(vals) != 3 {
		err = fmt.Errorf("rate limit script returned %d values", len(vals))
	}
	if err != nil {
		l.skipUntil.Store(now.Add(l.opts.Backoff).UnixNano())
		l.warn(ctx, err)
		return Decision{Allowed: true, FailedOpen: true}
	}
	return decide(vals[0] == 1, limit, w, elapsed, vals[1], vals[2])
}

// decide turns the script's counts into a Decision; cur and prev are the counts the script saw
// (cur including this request when it was allowed).
func decide(allowed bool, limit int, window, elapsed, cur, prev int64) Decision {
	weight := float64(window-elapsed) / float64(window)
	estimate := float64(prev)*weight + float64(cur)
	if allowed {
		return Decision{Allowed: true, Remaining: max(0, limit-int(math.Ceil(estimate)))}
	}
	L := float64(limit)
	W := float64(window)
	var waitMs float64
	if float64(cur)+1 > L {
		// This window alone is full: wait for it to end, then until its weight has decayed enough.
		waitMs = W - float64(elapsed) + W*(1-(L-1)/float64(cur))
	} else {
		// The previous window's share must decay: prev*(W-elapsed-t)/W + cur + 1 <= limit.
		waitMs = W - float64(elapsed) - (L-1-float64(cur))*W/float64(prev)
	}
	wait := time.Duration(math.Ceil(waitMs)) * time.Millisecond
	if wait < time.Millisecond {
		wait = time.Millisecond
	}
	return Decision{Allowed: false, RetryAfter: wait}
}

func (l *Limiter) warn(ctx context.Context, err error) {
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if now-last < int64(10*time.Second) || !l.lastWarn.CompareAndSwap(last, now) {
		return
	}
	l.logger.WarnContext(ctx, "rate limiter failing open: redis unavailable, requests are not limited", slog.Any("error", err))
}

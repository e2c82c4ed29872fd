// Package sessions knows which sessions were revoked (logout, refresh-token reuse), for both the
// API path (the gateway's session check) and the WebSocket hub: one instance per gateway, so a
// revocation either path learns is remembered for both.
package sessions

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley/services/gateway/internal/expiring"
)

// revokedKeyPrefix + session id marks a revoked session, so its still-valid access tokens
// cannot open new connections or make API calls.
const revokedKeyPrefix = "parley:rt:revoked:"

var errNoRedis = errors.New("redis not connected")

// Options configure Revocations; zero values get the defaults.
type Options struct {
	// Redis returns the gateway's one Redis client, nil while it is not connected (required). It
	// should have client-side caching on: checks are answered from it. Revocations do not close it.
	Redis func() rueidis.Client
	// TTL is how long a revoked session is refused (REALTIME_REVOKED_SESSION_TTL); default 1h.
	TTL time.Duration
	// RedisTimeout bounds marking a session revoked; default 2s.
	RedisTimeout time.Duration
	// CheckTimeout bounds a revoked-session check (REALTIME_REVOCATION_CHECK_TIMEOUT): it sits on
	// every API call and WebSocket authentication, so a stuck Redis must not stall them.
	// Default 150ms.
	CheckTimeout time.Duration
}

// Revocations marks revoked sessions in Redis and answers whether a session was revoked.
type Revocations struct {
	opts Options
	// seen are the revocations this gateway has learned, kept in memory so that a Redis outage
	// (which empties the client-side cache and makes checks fail open) does not reopen them here.
	seen *expiring.Set
}

// New builds Revocations.
func New(opts Options) (*Revocations, error) {
	if opts.Redis == nil {
		return nil, errors.New("sessions: no Redis")
	}
	if opts.TTL < 0 || opts.RedisTimeout < 0 || opts.CheckTimeout < 0 {
		return nil, errors.New("sessions: TTL, RedisTimeout and CheckTimeout (REALTIME_REVOCATION_CHECK_TIMEOUT) must not be negative")
	}
	if opts.TTL == 0 {
		opts.TTL = time.Hour
	}
	if opts.RedisTimeout == 0 {
		opts.RedisTimeout = 2 * time.Second
	}
	if opts.CheckTimeout == 0 {
		opts.CheckTimeout = 150 * time.Millisecond
	}
	return &Revocations{opts: opts, seen: expiring.New(maxRememberedRevocations, expiring.EvictNearest)}, nil
}

func (r *Revocations) get() (rueidis.Client, error) {
	if c := r.opts.Redis(); c != nil {
		return c, nil
	}
	return nil, errNoRedis
}

// Mark remembers a revoked session for the TTL (longer than an access token lives).
func (r *Revocations) Mark(ctx context.Context, sessionID string) error {
	c, err := r.get()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.RedisTimeout)
	defer cancel()
	if err := c.Do(ctx, c.B().Set().Key(revokedKeyPrefix+sessionID).Value("1").Px(r.opts.TTL).Build()).Error(); err != nil {
		return fmt.Errorf("mark session revoked: %w", err)
	}
	r.Remember(sessionID)
	return nil
}

// Remember records in memory, for the TTL, a revocation this gateway learned of another way (a
// _revoke frame from the gateway that applied it).
func (r *Revocations) Remember(sessionID string) {
	r.seen.Add(sessionID, time.Now().Add(r.opts.TTL))
}

// revokedCacheTTL is how long this gateway keeps the answer to "is this session revoked?" in its
// client-side cache. Redis invalidates the entry the moment the key is set (server-assisted client
// caching, RESP3 tracking), and rueidis drops a connection's whole cache when that connection ends
// (pipe._background calls cache.Close, which empties the store; a reconnection starts a new pipe
// with a new cache, and tracking is switched on again with it). A connection that hangs is ended by
// rueidis' keep-alive PING (every Dialer.KeepAlive, 1s, failing after ConnWriteTimeout, 10s), so a
// cached "not revoked" outlives a revocation by at most that while the invalidation cannot arrive,
// and never survives a reconnection. The TTL only bounds memory for sessions that stopped calling.
const revokedCacheTTL = time.Minute

// errRevocationUnknown is a revoked-session check that got no answer within CheckTimeout.
var errRevocationUnknown = errors.New("revoked-session check: no answer from redis in time")

// Revoked reports whether the session was revoked. A revocation this gateway has seen is answered
// from memory; otherwise the answer comes from the client-side cache after the session's first
// call, so an API call costs no Redis round trip for it. It gives up after CheckTimeout: the
// caller decides what an unknown answer means (the API and WebSocket paths let the call through).
func (r *Revocations) Revoked(ctx context.Context, sessionID string) (bool, error) {
	if sessionID == "" {
		return false, nil
	}
	if _, seen := r.seen.Until(sessionID, time.Now()); seen {
		return true, nil
	}
	c, err := r.get()
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.CheckTimeout)
	defer cancel()
	err = c.DoCache(ctx, c.B().Get().Key(revokedKeyPrefix+sessionID).Cache(), revokedCacheTTL).Error()
	switch {
	case rueidis.IsRedisNil(err):
		return false, nil
	case err != nil && (ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded)):
		return false, fmt.Errorf("%w: %w", errRevocationUnknown, err)
	case err != nil:
		return false, fmt.Errorf("check revoked session: %w", err)
	}
	r.Remember(sessionID)
	return true, nil
}

// maxRememberedRevocations bounds the memory of seen revocations: ~100 B each, 10 MB in all. Far
// more sessions than are revoked within one TTL in practice; past it, entries closest to expiry
// go first (expiring.EvictNearest: a revocation just learned matters most, and revocations are
// rare enough for the scan that finds the nearest).
const maxRememberedRevocations = 100_000

package realtime

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley/contracts/rediskeys"
)

// Redis keys and channels. The presence key is a contract with the notification service (see
// docs/realtime.md), so its name lives in contracts/rediskeys: its name and value format must not
// change.
const (
	// UserChannelPrefix + user id is the pub/sub channel carrying that user's frames.
	UserChannelPrefix = "parley:rt:user:"
	// PresenceKeyPrefix + user id holds the user's last-seen time: Unix milliseconds as a decimal
	// string, refreshed while the user has an open connection.
	PresenceKeyPrefix = rediskeys.PresencePrefix
	// connsKeyPrefix + user id is a sorted set of the user's open connections (member: connection
	// id, score: Unix milliseconds when it expires unless refreshed): the online marker that
	// outlives no crashed gateway by more than its TTL.
	connsKeyPrefix = "parley:rt:conns:"
	// revokedKeyPrefix + session id marks a revoked session, so its still-valid access tokens
	// cannot open new connections.
	revokedKeyPrefix = "parley:rt:revoked:"
	// sentKeyPrefix + event id + frame hash marks a frame already published for an event.
	sentKeyPrefix = "parley:rt:sent:"
)

// presenceKeyTTL bounds how long a last-seen time is kept after the user's last connection.
const presenceKeyTTL = 30 * 24 * time.Hour

// UserChannel is the pub/sub channel of a user's frames.
func UserChannel(userID string) string { return UserChannelPrefix + userID }

// PresenceKey is the Redis key holding a user's last-seen time.
func PresenceKey(userID string) string { return PresenceKeyPrefix + userID }

var errNoRedis = errors.New("redis not connected")

// connectScript registers a connection: drops expired ones, refuses when the user has limit
// (ARGV[4], 0 = no limit) live ones, else adds it. Returns the number of live connections before
// this one, or -1 when refused.
var connectScript = rueidis.NewLuaScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local n = redis.call('ZCARD', KEYS[1])
local limit = tonumber(ARGV[4])
if limit > 0 and n >= limit then
  return -1
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return n
`)

// disconnectScript removes a connection and returns how many live ones the user has left.
var disconnectScript = rueidis.NewLuaScript(`
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return redis.call('ZCARD', KEYS[1])
`)

// store is the hub's Redis: pub/sub publishing, presence and revoked sessions.
type store struct {
	client  func() rueidis.Client // nil while not connected
	ttl     time.Duration         // connection marker lifetime without refresh
	timeout time.Duration
	// checkTimeout bounds a revoked-session check (Options.RevocationCheckTimeout): it sits on
	// every API call and WebSocket authentication, so a stuck Redis must not stall them.
	checkTimeout time.Duration
	revokedTTL   time.Duration // Options.RevokedSessionTTL
	// seen are the revocations this gateway has learned, kept in memory so that a Redis outage
	// (which empties the client-side cache and makes checks fail open) does not reopen them here.
	seen *revokedMemory
}

func (s *store) get() (rueidis.Client, error) {
	c := s.client()
	if c == nil {
		return nil, errNoRedis
	}
	return c, nil
}

// publishOnceScript publishes a frame to channels (ARGV[3:]) unless KEYS[1] says it already was:
// marking and publishing are one atomic step, so a frame is never marked without being sent.
var publishOnceScript = rueidis.NewLuaScript(`
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return 0
end
for i = 3, #ARGV do
  redis.call('PUBLISH', ARGV[i], ARGV[2])
end
return 1
`)

// publishOnce publishes frames that a redelivered event would send again: each publication's
// first call (within ttl, by its key) publishes, later ones do nothing. All of them go in one
// round trip, in order.
func (s *store) publishOnce(ctx context.Context, ttl time.Duration, pubs []publication) error {
	c, err := s.get()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ttlMs := strconv.FormatInt(ttl.Milliseconds(), 10)
	execs := make([]rueidis.LuaExec, len(pubs))
	for i, p := range pubs {
		args := make([]string, 0, 2+len(p.users))
		args = append(args, ttlMs, string(p.frame))
		for _, u := range p.users {
			args = append(args, UserChannel(u))
		}
		execs[i] = rueidis.LuaExec{Keys: []string{sentKeyPrefix + p.key}, Args: args}
	}
	for _, r := range publishOnceScript.ExecMulti(ctx, c, execs...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	return nil
}

// publish sends frame to each user's channel.
func (s *store) publish(ctx context.Context, frame []byte, userIDs ...string) error {
	if len(userIDs) == 0 {
		return nil
	}
	c, err := s.get()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	cmds := make(rueidis.Commands, 0, len(userIDs))
	msg := rueidis.BinaryString(frame)
	for _, u := range userIDs {
		cmds = append(cmds, c.B().Publish().Channel(UserChannel(u)).Message(msg).Build())
	}
	for _, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	return nil
}

// connect registers connection connID of userID. prev is how many live connections the user
// had before (0: the user just came online); ok is false when limit is reached.
func (s *store) connect(ctx context.Context, userID, connID string, limit int, now time.Time) (prev int, ok bool, err error) {
	c, err := s.get()
	if err != nil {
		return 0, true, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n, err := connectScript.Exec(ctx, c, []string{connsKeyPrefix + userID}, []string{
		ms(now), ms(now.Add(s.ttl)), connID, strconv.Itoa(limit), strconv.FormatInt(s.ttl.Milliseconds(), 10),
	}).AsInt64()
	if err != nil {
		return 0, true, fmt.Errorf("register connection: %w", err)
	}
	if n < 0 {
		return 0, false, nil
	}
	if err := s.setLastSeen(ctx, c, userID, now); err != nil {
		return int(n), true, err
	}
	return int(n), true, nil
}

// disconnect removes connID and returns how many live connections userID has left; at 0 the
// last-seen time is set to now.
func (s *store) disconnect(ctx context.Context, userID, connID string, now time.Time) (int, error) {
	c, err := s.get()
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n, err := disconnectScript.Exec(ctx, c, []string{connsKeyPrefix + userID}, []string{ms(now), connID}).AsInt64()
	if err != nil {
		return 0, fmt.Errorf("unregister connection: %w", err)
	}
	if n == 0 {
		if err := s.setLastSeen(ctx, c, userID, now); err != nil {
			return 0, err
		}
	}
	return int(n), nil
}

func (s *store) setLastSeen(ctx context.Context, c rueidis.Client, userID string, t time.Time) error {
	err := c.Do(ctx, c.B().Set().Key(PresenceKey(userID)).Value(ms(t)).Ex(presenceKeyTTL).Build()).Error()
	if err != nil {
		return fmt.Errorf("set last seen: %w", err)
	}
	return nil
}

// heartbeat refreshes the connection markers and last-seen times of the users connected here.
func (s *store) heartbeat(ctx context.Context, conns map[string][]string, now time.Time) error {
	if len(conns) == 0 {
		return nil
	}
	c, err := s.get()
	if err != nil {
		return err
	}
	cmds := make(rueidis.Commands, 0, 3*len(conns))
	exp := float64(now.Add(s.ttl).UnixMilli())
	for user, ids := range conns {
		z := c.B().Zadd().Key(connsKeyPrefix + user).ScoreMember()
		for _, id := range ids {
			z = z.ScoreMember(exp, id)
		}
		cmds = append(cmds, z.Build(),
			c.B().Pexpire().Key(connsKeyPrefix+user).Milliseconds(s.ttl.Milliseconds()).Build(),
			c.B().Set().Key(PresenceKey(user)).Value(ms(now)).Ex(presenceKeyTTL).Build())
	}
	ctx, cancel := context.WithTimeout(ctx, 4*s.timeout)
	defer cancel()
	for _, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("presence heartbeat: %w", err)
		}
	}
	return nil
}

// presence reads the online state and last-seen time of each user.
func (s *store) presence(ctx context.Context, userIDs []string, now time.Time) ([]presenceEntry, error) {
	if len(userIDs) == 0 {
		return nil, nil
	}
	c, err := s.get()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	cmds := make(rueidis.Commands, 0, 2*len(userIDs))
	for _, u := range userIDs {
		cmds = append(cmds,
			c.B().Zcount().Key(connsKeyPrefix+u).Min("("+ms(now)).Max("+inf").Build(),
			c.B().Get().Key(PresenceKey(u)).Build())
	}
	res := c.DoMulti(ctx, cmds...)
	out := make([]presenceEntry, len(userIDs))
	for i, u := range userIDs {
		n, err := res[2*i].AsInt64()
		if err != nil {
			return nil, fmt.Errorf("read presence: %w", err)
		}
		e := presenceEntry{UserID: u, Online: n > 0}
		v, err := res[2*i+1].ToString()
		switch {
		case rueidis.IsRedisNil(err):
		case err != nil:
			return nil, fmt.Errorf("read last seen: %w", err)
		default:
			if msv, perr := strconv.ParseInt(v, 10, 64); perr == nil {
				e.LastSeen = time.UnixMilli(msv).UTC()
			}
		}
		out[i] = e
	}
	return out, nil
}

// markRevoked remembers a revoked session for ttl (longer than an access token lives).
func (s *store) markRevoked(ctx context.Context, sessionID string, ttl time.Duration) error {
	c, err := s.get()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := c.Do(ctx, c.B().Set().Key(revokedKeyPrefix+sessionID).Value("1").Px(ttl).Build()).Error(); err != nil {
		return fmt.Errorf("mark session revoked: %w", err)
	}
	s.seen.add(sessionID, time.Now().Add(ttl))
	return nil
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

// errRevocationUnknown is a revoked-session check that got no answer within checkTimeout.
var errRevocationUnknown = errors.New("revoked-session check: no answer from redis in time")

// revoked reports whether the session was revoked. A revocation this gateway has seen is answered
// from memory; otherwise the answer comes from the client-side cache after the session's first
// call, so an API call costs no Redis round trip for it. It gives up after checkTimeout: the
// caller decides what an unknown answer means (the API and WebSocket paths let the call through).
func (s *store) revoked(ctx context.Context, sessionID string) (bool, error) {
	if sessionID == "" {
		return false, nil
	}
	if s.seen.has(sessionID, time.Now()) {
		return true, nil
	}
	c, err := s.get()
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.checkTimeout)
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
	s.seen.add(sessionID, time.Now().Add(s.revokedTTL))
	return true, nil
}

// maxRememberedRevocations bounds revokedMemory: ~100 B each, 10 MB in all. Far more sessions
// than are revoked within one RevokedSessionTTL in practice; past it, entries closest to expiry go
// first.
const maxRememberedRevocations = 100_000

// revokedMemory is a bounded set of revoked session ids with their expiry.
type revokedMemory struct {
	mu    sync.Mutex
	until map[string]time.Time
	limit int
}

func newRevokedMemory(limit int) *revokedMemory {
	return &revokedMemory{until: map[string]time.Time{}, limit: limit}
}

func (m *revokedMemory) add(sessionID string, until time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.until[sessionID]; ok && old.After(until) {
		return
	}
	if _, ok := m.until[sessionID]; !ok && len(m.until) >= m.limit {
		m.evict(time.Now())
	}
	m.until[sessionID] = until
}

// evict drops the expired entries, and when that frees nothing, the one closest to expiry.
func (m *revokedMemory) evict(now time.Time) {
	var first string
	var firstUntil time.Time
	for id, u := range m.until {
		if !u.After(now) {
			delete(m.until, id)
			continue
		}
		if first == "" || u.Before(firstUntil) {
			first, firstUntil = id, u
		}
	}
	if len(m.until) >= m.limit && first != "" {
		delete(m.until, first)
	}
}

func (m *revokedMemory) has(sessionID string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.until[sessionID]
	if ok && !u.After(now) {
		delete(m.until, sessionID)
		return false
	}
	return ok
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

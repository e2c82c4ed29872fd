package realtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
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

// store is the hub's Redis: pub/sub publishing and presence (revoked sessions: package sessions).
type store struct {
	client  func() rueidis.Client // nil while not connected
	ttl     time.Duration         // connection marker lifetime without refresh
	timeout time.Duration
}

func (s *store) get() (rueidis.Client, error) {
	c := s.client()
	if c == nil {
		return nil, errNoRedis
	}
	return c, nil
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
	return Publish(ctx, c, frame, userIDs...)
}

// Publish sends frame to each user's channel (UserChannel) in one round trip: how frames reach
// the gateways holding those users' connections, from the fan-out (package fanout) and from a
// hub (presence, typing).
func Publish(ctx context.Context, c rueidis.Client, frame []byte, userIDs ...string) error {
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
	if err := s.setLastSeen(ctx, c, userID, now, false); err != nil {
		return int(n), true, err
	}
	return int(n), true, nil
}

// disconnect removes connID and returns how many live connections userID has left; at 0 the
// last-seen time is set to now, over the one kept: a deleted account's, forgotten meanwhile (the
// fan-out's UserDeleted), stays forgotten however late its sockets close.
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
		if err := s.setLastSeen(ctx, c, userID, now, true); err != nil {
			return 0, err
		}
	}
	return int(n), nil
}

// setLastSeen writes userID's last-seen time; onlyIfKept writes it only over a time still kept
// (a reply of nil: none kept, none written).
func (s *store) setLastSeen(ctx context.Context, c rueidis.Client, userID string, t time.Time, onlyIfKept bool) error {
	err := c.Do(ctx, lastSeenCmd(c, userID, t, onlyIfKept)).Error()
	if err != nil && !rueidis.IsRedisNil(err) {
		return fmt.Errorf("set last seen: %w", err)
	}
	return nil
}

// lastSeenCmd is the one command that writes a last-seen time (PresenceKey): connect, the
// heartbeat, and disconnect (onlyIfKept).
func lastSeenCmd(c rueidis.Client, userID string, t time.Time, onlyIfKept bool) rueidis.Completed {
	set := c.B().Set().Key(PresenceKey(userID)).Value(ms(t))
	if onlyIfKept {
		return set.Xx().Ex(presenceKeyTTL).Build()
	}
	return set.Ex(presenceKeyTTL).Build()
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
			lastSeenCmd(c, user, now, false))
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

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// traceMark begins a published payload that carries trace context before its frame: a frame is
// JSON and begins with '{', never with this byte.
const traceMark = 0

// WithTrace is what the fan-out publishes for frame when the event it shows carries trace context
// (its traceparent): the mark, the traceparent, the mark again, the frame. The receiving hub
// strips it (splitTrace) and delivers the frame inside a span of that trace. Without a
// traceparent it is frame itself.
func WithTrace(traceparent string, frame []byte) []byte {
	if traceparent == "" {
		return frame
	}
	b := make([]byte, 0, len(traceparent)+2+len(frame))
	b = append(b, traceMark)
	b = append(b, traceparent...)
	b = append(b, traceMark)
	return append(b, frame...)
}

// splitTrace undoes WithTrace: the traceparent ("" when there is none) and the frame.
func splitTrace(payload []byte) (string, []byte) {
	if len(payload) == 0 || payload[0] != traceMark {
		return "", payload
	}
	end := bytes.IndexByte(payload[1:], traceMark)
	if end < 0 {
		return "", payload[1:]
	}
	return string(payload[1 : 1+end]), payload[2+end:]
}

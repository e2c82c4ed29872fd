// Package profilecache caches profiles in Redis (rueidis), with client-side caching: reads go
// through DoCache, so a hot profile is served from the process's memory and Redis tells every
// process (RESP3 tracking) when the key changes.
//
// Entries are fenced by the profile's version. Each value is "<version>|<payload>"; an update
// replaces the entry with a tombstone "<newVersion>|" before its transaction commits, and a fill
// (a reader storing what it read from the database) is refused when the entry holds a higher
// version. So a reader that read the old row just before an update cannot put it back after the
// update: a stale entry never survives an update.
//
// Client-side copies are dropped when Redis's invalidation message reaches the process, which
// for a key changed through another connection is a moment after the change. So that a replica
// never serves its own update's predecessor in that moment, each Cache also remembers the
// versions it invalidated recently and treats older copies as misses.
package profilecache

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley/services/profile/internal/profile"

	"github.com/parleyhq/parley/platform/defaults"
)

// DefaultTTL bounds how long an entry (and a tombstone) lives.
const DefaultTTL = 10 * time.Minute

// keyPrefix names the keys; bump its version when the encoding changes.
const keyPrefix = "parley:profile:v1:"

// Key returns the Redis key of userID's profile.
func Key(userID string) string { return keyPrefix + userID }

// putScript stores ARGV[2] under KEYS[1] for ARGV[3] ms unless the entry there has a higher
// version than ARGV[1].
var putScript = rueidis.NewLuaScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%d+)|'))
  if v and v > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`)

// Cache implements profile.Cache.
type Cache struct {
	client rueidis.Client
	ttl    time.Duration

	mu     sync.Mutex
	fences map[string]fence // versions this process invalidated lately, by user id
}

type fence struct {
	version int64
	at      time.Time
}

// fenceLife is how long a fence is kept: far longer than an invalidation message takes to arrive.
const fenceLife = 30 * time.Second

// New returns a cache on client whose entries live for ttl.
func New(client rueidis.Client, ttl time.Duration) *Cache {
	ttl = defaults.Positive(ttl, DefaultTTL)
	return &Cache{client: client, ttl: ttl, fences: map[string]fence{}}
}

func (c *Cache) fenced(id string, version int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.fences[id]
	return ok && version < f.version && time.Since(f.at) < fenceLife
}

func (c *Cache) setFence(id string, version int64) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.fences) >= 1024 {
		for k, f := range c.fences {
			if now.Sub(f.at) >= fenceLife {
				delete(c.fences, k)
			}
		}
	}
	if f, ok := c.fences[id]; !ok || f.version <= version {
		c.fences[id] = fence{version: version, at: now}
	}
}

type entry struct {
	UserID            string          `json:"u"`
	Nickname          string          `json:"n"`
	About             string          `json:"a,omitempty"`
	Avatar            *profile.Avatar `json:"av,omitempty"`
	NicknameStatus    int             `json:"s"`
	RequestedNickname string          `json:"r,omitempty"`
	Version           int64           `json:"v"`
	CreatedAt         time.Time       `json:"c"`
	UpdatedAt         time.Time       `json:"m"`
}

func encode(p profile.Profile) (string, error) {
	b, err := json.Marshal(entry{UserID: p.UserID, Nickname: p.Nickname, About: p.About, Avatar: p.Avatar,
		NicknameStatus: int(p.NicknameStatus), RequestedNickname: p.RequestedNickname, Version: p.Version,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt})
	if err != nil {
		return "", fmt.Errorf("encode profile: %w", err)
	}
	return strconv.FormatInt(p.Version, 10) + "|" + string(b), nil
}

// decode returns the profile in a value, or ok false for a tombstone or an unreadable value.
func decode(v string) (profile.Profile, bool) {
	_, payload, found := strings.Cut(v, "|")
	if !found || payload == "" {
		return profile.Profile{}, false
	}
	var e entry
	if err := json.Unmarshal([]byte(payload), &e); err != nil {
		return profile.Profile{}, false
	}
	return profile.Profile{UserID: e.UserID, Nickname: e.Nickname, About: e.About, Avatar: e.Avatar,
		NicknameStatus: profile.NicknameStatus(e.NicknameStatus), RequestedNickname: e.RequestedNickname,
		Version: e.Version, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}, true
}

// GetMany returns the cached profiles among userIDs, from the process's memory when Redis has
// told it they are unchanged.
func (c *Cache) GetMany(ctx context.Context, userIDs []string) (map[string]profile.Profile, error) {
	if len(userIDs) == 0 {
		return nil, nil
	}
	cmds := make([]rueidis.CacheableTTL, len(userIDs))
	for i, id := range userIDs {
		cmds[i] = rueidis.CT(c.client.B().Get().Key(Key(id)).Cache(), c.ttl)
	}
	out := make(map[string]profile.Profile, len(userIDs))
	for i, res := range c.client.DoMultiCache(ctx, cmds...) {
		v, err := res.ToString()
		if rueidis.IsRedisNil(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read cached profile: %w", err)
		}
		if p, ok := decode(v); ok && p.UserID == userIDs[i] && !c.fenced(p.UserID, p.Version) {
			out[p.UserID] = p
		}
	}
	return out, nil
}

// Put stores profiles read from the database; each is refused when a newer version has been
// invalidated meanwhile.
func (c *Cache) Put(ctx context.Context, ps ...profile.Profile) error {
	execs := make([]rueidis.LuaExec, 0, len(ps))
	for _, p := range ps {
		v, err := encode(p)
		if err != nil {
			return err
		}
		execs = append(execs, rueidis.LuaExec{Keys: []string{Key(p.UserID)},
			Args: []string{strconv.FormatInt(p.Version, 10), v, strconv.FormatInt(c.ttl.Milliseconds(), 10)}})
	}
	for _, res := range putScript.ExecMulti(ctx, c.client, execs...) {
		if err := res.Error(); err != nil {
			return fmt.Errorf("cache profile: %w", err)
		}
	}
	return nil
}

// Invalidate replaces userID's entry with a tombstone for version: the old value is gone (from
// Redis, and from every process's memory through tracking), and fills of older versions are
// refused while the tombstone lives (the TTL, far longer than any read takes).
func (c *Cache) Invalidate(ctx context.Context, userID string, version int64) error {
	c.setFence(userID, version)
	v := strconv.FormatInt(version, 10)
	res := putScript.Exec(ctx, c.client, []string{Key(userID)}, []string{v, v + "|", strconv.FormatInt(c.ttl.Milliseconds(), 10)})
	if err := res.Error(); err != nil {
		return fmt.Errorf("invalidate cached profile %s: %w", userID, err)
	}
	return nil
}

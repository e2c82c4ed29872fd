package authn

import (
	"sync"
	"time"
)

// DefaultCacheSize bounds how many verified tokens a Verifier remembers.
const DefaultCacheSize = 65536

// verifiedCache remembers tokens that passed verification until they expire, so a client's
// token is parsed and its signature checked once, not on every call: on the message path that
// check was a fifth of the gateway's and a quarter of the chat service's CPU (docs/performance.md).
//
// Only tokens that verified are kept, each until its own exp (never longer: the skew Verify
// allows is applied by a full verification after exp), keyed by the whole token string, so a
// token that differs in any byte misses and is checked in full. The consequence to know: a
// token stays accepted until it expires even if its signing key leaves the key set meanwhile —
// the same window a stolen token has, and one an access token's short life bounds.
type verifiedCache struct {
	mu      sync.RWMutex
	entries map[string]verifiedEntry
	max     int
	now     func() time.Time
}

type verifiedEntry struct {
	p   Principal
	exp time.Time
}

func newVerifiedCache(max int, now func() time.Time) *verifiedCache {
	return &verifiedCache{entries: make(map[string]verifiedEntry), max: max, now: now}
}

// get returns the principal of a token verified before that has not expired yet.
func (c *verifiedCache) get(raw string) (Principal, bool) {
	c.mu.RLock()
	e, ok := c.entries[raw]
	c.mu.RUnlock()
	if !ok || !c.now().Before(e.exp) {
		return Principal{}, false
	}
	return e.p, true
}

// put remembers a verified token until exp. When the cache is full, expired entries go first;
// if that frees nothing, an arbitrary half does (map order), which costs only re-verifications.
func (c *verifiedCache) put(raw string, p Principal, exp time.Time) {
	if c.max <= 0 || !c.now().Before(exp) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		now := c.now()
		for k, e := range c.entries {
			if !now.Before(e.exp) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.max/2 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[raw] = verifiedEntry{p: p, exp: exp}
}

func (c *verifiedCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

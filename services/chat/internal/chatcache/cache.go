// Package chatcache caches the friend service's CheckFriendship answers in Redis (rueidis), for
// sends to a user whose chat does not exist yet; friend events delete the pair's entry.
//
// Reads are plain GETs, not client-side cached: they happen only for the first messages between
// two people (or attempts to message a stranger), and a process-local copy would be dropped only
// when Redis's invalidation push arrives, a moment after a write, which would make "the event
// has dropped the entry" true in Redis but not yet everywhere.
package chatcache

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley/services/chat/internal/chat"

	"github.com/parleyhq/parley/platform/defaults"
)

// DefaultTTL bounds how long an answer is kept: short, since it matters only until the pair's
// first friend event creates their chat.
const DefaultTTL = 30 * time.Second

// keyPrefix names the keys; bump its version when the encoding changes.
const keyPrefix = "parley:chat:v1:friendship:"

// Key returns the Redis key of the pair's answer; the pair's order does not matter.
func Key(a, b string) string {
	lo, hi := chat.Pair(a, b)
	return keyPrefix + lo + ":" + hi
}

// Cache implements chat.FriendshipCache and chatevents.Invalidator.
type Cache struct {
	client rueidis.Client
	ttl    time.Duration
}

// New returns a cache on client whose entries live for ttl.
func New(client rueidis.Client, ttl time.Duration) *Cache {
	ttl = defaults.Positive(ttl, DefaultTTL)
	return &Cache{client: client, ttl: ttl}
}

// Get returns the cached answer for the pair.
func (c *Cache) Get(ctx context.Context, a, b string) (friends, found bool, err error) {
	v, err := c.client.Do(ctx, c.client.B().Get().Key(Key(a, b)).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("read cached friendship: %w", err)
	}
	switch v {
	case "1":
		return true, true, nil
	case "0":
		return false, true, nil
	}
	return false, false, nil // unknown encoding: ask again
}

// Put caches an answer for the pair.
func (c *Cache) Put(ctx context.Context, a, b string, friends bool) error {
	v := "0"
	if friends {
		v = "1"
	}
	if err := c.client.Do(ctx, c.client.B().Set().Key(Key(a, b)).Value(v).Px(c.ttl).Build()).Error(); err != nil {
		return fmt.Errorf("cache friendship: %w", err)
	}
	return nil
}

// Invalidate drops the pair's answer.
func (c *Cache) Invalidate(ctx context.Context, a, b string) error {
	if err := c.client.Do(ctx, c.client.B().Del().Key(Key(a, b)).Build()).Error(); err != nil {
		return fmt.Errorf("drop cached friendship: %w", err)
	}
	return nil
}

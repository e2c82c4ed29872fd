// Package redistest connects tests to a Redis server.
package redistest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// Addr is the Redis server tests use: PARLEY_TEST_REDIS_ADDR, else 127.0.0.1:6379.
func Addr() string {
	if a := os.Getenv("PARLEY_TEST_REDIS_ADDR"); a != "" {
		return strings.TrimPrefix(a, "redis://")
	}
	return "127.0.0.1:6379"
}

// New returns a client closed when the test ends. Tests share the server, so code under test must
// namespace its keys by random ids (as the services do) and never flush.
func New(t testing.TB) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{Addr()}, DisableCache: false})
	if err != nil {
		t.Fatalf("redistest: connect to %s (set PARLEY_TEST_REDIS_ADDR): %v", Addr(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
		t.Fatalf("redistest: ping %s: %v", Addr(), err)
	}
	t.Cleanup(c.Close)
	return c
}

// Get returns key's string value and whether the key exists; any other error fails the test.
func Get(t testing.TB, c rueidis.Client, key string) (string, bool) {
	t.Helper()
	v, err := c.Do(t.Context(), c.B().Get().Key(key).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return "", false
	}
	if err != nil {
		t.Fatalf("redistest: GET %s: %v", key, err)
	}
	return v, true
}

package realtime

import (
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley/platform/redistest"
)

// The last connection's close writes the last-seen time over the one kept, and writes none once
// it was forgotten (the fan-out's UserDeleted): a deleted account's sockets closing late do not
// bring it back.
func TestDisconnectKeepsAForgottenLastSeenForgotten(t *testing.T) {
	ctx := t.Context()
	c := redistest.New(t)
	s := &store{client: func() rueidis.Client { return c }, ttl: time.Minute, timeout: 2 * time.Second}
	at := time.UnixMilli(1_800_000_000_000)
	lastSeen := func(user string) (string, bool) { return redistest.Get(t, c, PresenceKey(user)) }
	// Random ids: the Redis server is shared (redistest.New).
	kept, forgotten := rand.Text(), rand.Text()
	for _, user := range []string{kept, forgotten} {
		if _, ok, err := s.connect(ctx, user, "conn-1", 10, at); err != nil || !ok {
			t.Fatalf("connect %s: %v, %v", user, ok, err)
		}
	}
	if err := c.Do(ctx, c.B().Del().Key(PresenceKey(forgotten)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	later := at.Add(time.Minute)
	for _, user := range []string{kept, forgotten} {
		if n, err := s.disconnect(ctx, user, "conn-1", later); err != nil || n != 0 {
			t.Fatalf("disconnect %s: %d left, %v", user, n, err)
		}
	}
	if v, ok := lastSeen(kept); !ok || v != ms(later) {
		t.Errorf("last seen of a user who left = %q (%v), want %s", v, ok, ms(later))
	}
	if v, ok := lastSeen(forgotten); ok {
		t.Errorf("a forgotten last-seen time came back as %q", v)
	}
}

// The presence heartbeat refreshes open connections only: one being closed (its session
// revoked) does not refresh the user's presence on its way out.
func TestHeartbeatLeavesOutClosingConnections(t *testing.T) {
	open, closing, other := &conn{id: "open"}, &conn{id: "closing"}, &conn{id: "other"}
	closing.closing.Store(true)
	users := map[string]*userState{
		"ann":  {conns: map[*conn]struct{}{open: {}, closing: {}}},
		"bob":  {conns: map[*conn]struct{}{other: {}}},
		"gone": {conns: map[*conn]struct{}{closing: {}}},
	}
	got := openConns(users)
	if len(got) != 2 || !slices.Equal(got["ann"], []string{"open"}) || !slices.Equal(got["bob"], []string{"other"}) {
		t.Fatalf("heartbeat refreshes %v; want ann's open connection and bob's, nothing of a closing one", got)
	}
}

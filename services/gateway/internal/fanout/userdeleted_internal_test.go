package fanout

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/services/gateway/internal/realtime"
)

// UserDeleted forgets the person's last-seen time, and only theirs; without Redis it fails
// (Transient, which the consumer retries until it is applied: platform/events' tests).
func TestUserDeletedForgetsTheLastSeenTime(t *testing.T) {
	ctx := t.Context()
	c := redistest.New(t)
	f := newTestFanout(t, c, Options{})
	// Random ids: the Redis server is shared (redistest.New).
	gone, stays := rand.Text(), rand.Text()
	for _, user := range []string{gone, stays} {
		if err := c.Do(ctx, c.B().Set().Key(realtime.PresenceKey(user)).Value("1800000000000").Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { c.Do(context.Background(), c.B().Del().Key(realtime.PresenceKey(stays)).Build()) })
	if err := f.userDeleted(ctx, nil, events.Event{}, &eventsv1.UserDeleted{UserId: gone}, gone); err != nil {
		t.Fatal(err)
	}
	if _, ok := redistest.Get(t, c, realtime.PresenceKey(stays)); !ok {
		t.Fatal("the other person's last-seen time was forgotten too")
	}
	if v, ok := redistest.Get(t, c, realtime.PresenceKey(gone)); ok {
		t.Fatalf("the deleted person's last-seen time is still there (%q)", v)
	}

	down := newTestFanout(t, nil, Options{})
	if err := down.userDeleted(ctx, nil, events.Event{}, &eventsv1.UserDeleted{UserId: gone}, gone); err == nil || !strings.Contains(err.Error(), errNoRedis.Error()) {
		t.Fatalf("without Redis: %v; want it to fail (Transient), to be tried again", err)
	}
}

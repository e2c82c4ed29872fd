package fanout

import (
	"strings"
	"testing"

	"github.com/redis/rueidis"

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
	for _, user := range []string{"gone", "stays"} {
		if err := c.Do(ctx, c.B().Set().Key(realtime.PresenceKey(user)).Value("1800000000000").Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.userDeleted(ctx, nil, events.Event{}, &eventsv1.UserDeleted{UserId: "gone"}); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Do(ctx, c.B().Exists().Key(realtime.PresenceKey("gone"), realtime.PresenceKey("stays")).Build()).AsInt64(); err != nil || n != 1 {
		t.Fatalf("%d of the two last-seen keys exist (%v); want the other person's only", n, err)
	}
	if _, err := c.Do(ctx, c.B().Get().Key(realtime.PresenceKey("gone")).Build()).ToString(); !rueidis.IsRedisNil(err) {
		t.Fatalf("the deleted person's last-seen time is still there (%v)", err)
	}

	down := newTestFanout(t, nil, Options{})
	if err := down.userDeleted(ctx, nil, events.Event{}, &eventsv1.UserDeleted{UserId: "gone"}); err == nil || !strings.Contains(err.Error(), errNoRedis.Error()) {
		t.Fatalf("without Redis: %v; want it to fail (Transient), to be tried again", err)
	}
}

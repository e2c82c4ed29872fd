package fanout

import (
	"context"
	"crypto/rand"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/services/gateway/internal/realtime"
	"github.com/parleyhq/parley/services/gateway/internal/sessions"
)

// A frame of an event without an id (nothing to mark it by) still goes out after the frames
// queued before it for the same user, not ahead of them.
func TestAFrameWithoutAnEventIDKeepsItsPlace(t *testing.T) {
	t.Parallel()
	redis := redistest.New(t)
	f := newTestFanout(t, redis, Options{})
	// Fresh ids: a sent-marker from an earlier run would keep the first frame from going out.
	user, eventID := rand.Text(), rand.Text()
	got := subscribe(t, redis, realtime.UserChannel(user))

	ctx := t.Context()
	now := time.Now()
	if err := f.publish(ctx, events.Event{ID: eventID, Time: now}, []byte(`{"n":1}`), user); err != nil {
		t.Fatal(err)
	}
	if err := f.publish(ctx, events.Event{Time: now}, []byte(`{"n":2}`), user); err != nil {
		t.Fatal(err)
	}
	f.flush(ctx) // the consumer's AfterBatch
	for _, want := range []string{`{"n":1}`, `{"n":2}`} {
		select {
		case frame := <-got:
			if frame != want {
				t.Fatalf("got %s, want %s: the frame without an event id overtook the one queued before it", frame, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no frame %s", want)
		}
	}
}

// newTestFanout is a fan-out as opts say, publishing through redis, with the revoked-session
// marks there too.
func newTestFanout(t *testing.T, redis rueidis.Client, opts Options) *fanout {
	t.Helper()
	source := func() rueidis.Client { return redis }
	revocations, err := sessions.New(sessions.Options{Redis: source})
	if err != nil {
		t.Fatal(err)
	}
	opts.Logger, opts.Redis, opts.Revocations = slog.New(slog.DiscardHandler), source, revocations
	f, err := newFanout(opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// subscribe returns the messages published on channel from now on.
func subscribe(t *testing.T, redis rueidis.Client, channel string) <-chan string {
	t.Helper()
	dc, release := redis.Dedicate()
	t.Cleanup(release)
	got := make(chan string, 16)
	confirmed := make(chan struct{})
	dc.SetPubSubHooks(rueidis.PubSubHooks{
		OnMessage: func(m rueidis.PubSubMessage) { got <- m.Message },
		OnSubscription: func(s rueidis.PubSubSubscription) {
			if s.Kind == "subscribe" {
				close(confirmed)
			}
		},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := dc.Do(ctx, dc.B().Subscribe().Channel(channel).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-confirmed:
	case <-ctx.Done():
		t.Fatal("subscription not confirmed")
	}
	return got
}

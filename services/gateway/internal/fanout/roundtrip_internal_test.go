package fanout

import (
	"context"
	"crypto/rand"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/services/gateway/internal/realtime"
)

// countingClient counts the round trips made through it (a pipeline is one), including those
// made through its Nodes. With lose set, the next pipeline runs under an unknown script name, so
// Redis answers it as it does once it has lost its scripts (NOSCRIPT).
type countingClient struct {
	rueidis.Client
	trips atomic.Int32
	lose  atomic.Bool
}

func (c *countingClient) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	c.trips.Add(1)
	return c.Client.Do(ctx, cmd)
}

func (c *countingClient) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	c.trips.Add(1)
	if c.lose.CompareAndSwap(true, false) {
		unknown := make(rueidis.Commands, len(cmds))
		for i := range cmds {
			unknown[i] = c.B().Evalsha().Sha1(sha1Hex("-- lost " + rand.Text())).Numkeys(0).Build()
		}
		cmds = unknown
	}
	return c.Client.DoMulti(ctx, cmds...)
}

func (c *countingClient) Nodes() map[string]rueidis.Client {
	nodes := map[string]rueidis.Client{}
	for addr := range c.Client.Nodes() {
		nodes[addr] = c
	}
	return nodes
}

func newCountedFanout(t *testing.T) (*fanout, *countingClient) {
	t.Helper()
	c := &countingClient{Client: redistest.New(t)}
	// One attempt: a retry must not hide a batch that failed.
	return newTestFanout(t, c, Options{Attempts: 1}), c
}

// queue queues one frame per user, as that many events would.
func queue(t *testing.T, f *fanout, users ...string) {
	t.Helper()
	for _, u := range users {
		if err := f.publish(t.Context(), events.Event{ID: rand.Text(), Time: time.Now()}, []byte(`{"to":"`+u+`"}`), u); err != nil {
			t.Fatal(err)
		}
	}
}

// A batch of frames reaches Redis in one round trip, not two (a SCRIPT LOAD before each).
func TestABatchIsOneRoundTrip(t *testing.T) {
	t.Parallel()
	f, c := newCountedFanout(t)
	queue(t, f, rand.Text())
	f.flush(t.Context()) // Redis has the script from here on, whoever loaded it first
	before := c.trips.Load()
	queue(t, f, rand.Text(), rand.Text(), rand.Text())
	f.flush(t.Context())
	if n := c.trips.Load() - before; n != 1 {
		t.Fatalf("a batch of 3 frames took %d round trips, want 1", n)
	}
}

// When Redis has lost the script (a restart, SCRIPT FLUSH), the batch is sent again with it and
// every frame goes out.
func TestABatchSurvivesALostScript(t *testing.T) {
	t.Parallel()
	f, c := newCountedFanout(t)
	users := []string{rand.Text(), rand.Text()}
	got := make([]<-chan string, len(users))
	for i, u := range users {
		got[i] = subscribe(t, c.Client, realtime.UserChannel(u))
	}
	queue(t, f, users...)
	c.lose.Store(true)
	f.flush(t.Context())
	for i, u := range users {
		select {
		case frame := <-got[i]:
			if want := `{"to":"` + u + `"}`; frame != want {
				t.Fatalf("got %s, want %s", frame, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no frame for %s after the script was lost", u)
		}
	}
}

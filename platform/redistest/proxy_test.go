package redistest_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/platform/waittest"
)

// The proxy passes commands through, makes Redis look down (Cut) and stuck (Hang), and brings it
// back (Restore).
func TestProxyCutHangRestore(t *testing.T) {
	p := redistest.NewProxy(t)
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{p.Addr()}, DisableCache: true, DisableRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ping := func(d time.Duration) error {
		ctx, cancel := context.WithTimeout(t.Context(), d)
		defer cancel()
		return c.Do(ctx, c.B().Ping().Build()).Error()
	}
	if err := ping(5 * time.Second); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	p.Cut()
	if err := ping(5 * time.Second); err == nil {
		t.Fatal("ping answered while the proxy is cut")
	}
	before := p.Accepts()
	_ = ping(5 * time.Second)
	if p.Accepts() == before {
		t.Fatal("a reconnection attempt while cut was not counted")
	}
	p.Restore()
	waittest.UntilNil(t, "a ping through the proxy", func() error { return ping(5 * time.Second) })
	p.Hang()
	if err := ping(200 * time.Millisecond); err == nil {
		t.Fatal("ping answered while the proxy hangs")
	}
	p.Restore()
	waittest.UntilNil(t, "a ping through the proxy", func() error { return ping(5 * time.Second) })
}

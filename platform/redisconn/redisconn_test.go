package redisconn_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley/platform/redisconn"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/platform/waittest"
)

func TestOpenConnectsWithTheOptionsGiven(t *testing.T) {
	configured := false
	c, err := redisconn.Open("redis://"+redistest.Addr(), func(o *rueidis.ClientOption) { o.DisableCache, configured = true, true })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !configured {
		t.Fatal("the option function was not called")
	}
	if err := c.Do(context.Background(), c.B().Ping().Build()).Error(); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

func TestOpenNamesWhatIsWrong(t *testing.T) {
	for url, want := range map[string]string{
		"http://nothing":                   "REDIS_URL",
		"redis://user:hunter2@127.0.0.1:1": "connect to redis",
	} {
		_, err := redisconn.Open(url)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) = %v; want an error naming %q without the password", url, err, want)
		}
	}
}

// Redis down at start: OpenInBackground returns at once without a client, reports the failure
// once, and connects when Redis answers.
func TestOpenInBackgroundConnectsWhenRedisComesUp(t *testing.T) {
	proxy := redistest.NewProxy(t)
	proxy.Cut()
	var unreachable, wrapped atomic.Int32
	b, err := redisconn.OpenInBackground(t.Context(), "redis://"+proxy.Addr(), redisconn.Retry{
		MinWait: 10 * time.Millisecond, MaxWait: 50 * time.Millisecond,
		Unreachable: func(error) { unreachable.Add(1) },
		Wrap: func(c rueidis.Client) rueidis.Client {
			wrapped.Add(1)
			return wrappedClient{c}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Client() != nil {
		t.Fatal("a client while Redis is down")
	}
	time.Sleep(100 * time.Millisecond) // several attempts fail meanwhile
	proxy.Restore()
	waittest.Until(t, "the client once Redis is back", func() bool { return b.Client() != nil })
	c := b.Client()
	if err := c.Do(t.Context(), c.B().Ping().Build()).Error(); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if n := unreachable.Load(); n != 1 {
		t.Fatalf("Unreachable called %d times, want once", n)
	}
	if _, ok := c.(wrappedClient); !ok || wrapped.Load() != 1 {
		t.Fatalf("Client is %T, wrapped %d times; want Wrap's client, wrapped once", c, wrapped.Load())
	}
}

// wrappedClient is what a Retry.Wrap returns in the tests (telemetry.Redis in the gateway).
type wrappedClient struct{ rueidis.Client }

func TestOpenInBackgroundRefusesOnlyAMalformedURL(t *testing.T) {
	if _, err := redisconn.OpenInBackground(t.Context(), "::not a url", redisconn.Retry{}); err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Fatalf("a malformed REDIS_URL: %v; want an error naming REDIS_URL", err)
	}
	b, err := redisconn.OpenInBackground(t.Context(), "redis://"+redistest.Addr(), redisconn.Retry{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Client() == nil {
		t.Fatal("Redis up: not connected when OpenInBackground returned")
	}
	b.Close()
	if err := b.Client().Do(context.Background(), b.Client().B().Ping().Build()).Error(); err == nil {
		t.Fatal("the client still answers after Close")
	}
}

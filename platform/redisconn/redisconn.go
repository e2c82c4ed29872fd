// Package redisconn opens the one Redis client a service uses, from REDIS_URL, the way pg opens
// its Postgres pool: called from run.go, which closes the client when it returns.
package redisconn

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley/platform/backoff"
)

// Open connects to the Redis server redisURL (REDIS_URL: redis://[user:password@]host:port[/db]).
// configure, when given, adjusts the options before connecting (e.g. DisableCache for a service
// that reads each key once). The errors name REDIS_URL, never its password.
func Open(redisURL string, configure ...func(*rueidis.ClientOption)) (rueidis.Client, error) {
	opt, err := options(redisURL, configure)
	if err != nil {
		return nil, err
	}
	return connect(opt)
}

func options(redisURL string, configure []func(*rueidis.ClientOption)) (rueidis.ClientOption, error) {
	opt, err := rueidis.ParseURL(redisURL)
	if err != nil {
		return rueidis.ClientOption{}, fmt.Errorf("REDIS_URL: %w", err)
	}
	for _, c := range configure {
		c(&opt)
	}
	return opt, nil
}

func connect(opt rueidis.ClientOption) (rueidis.Client, error) {
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("connect to redis: %w", err)
	}
	return client, nil
}

// Retry paces OpenInBackground's attempts, says what became of them, and wraps what connects.
type Retry struct {
	// MinWait and MaxWait bound the wait between attempts (backoff.Delay: doubled per failure
	// from MinWait up to MaxWait, jittered).
	MinWait, MaxWait time.Duration
	// Unreachable, when set, is called once, with the first attempt's error, when Redis does not
	// answer at once.
	Unreachable func(error)
	// Wrap, when set, wraps the client once it has connected, before Client hands it out
	// (telemetry.Redis, which traces its commands).
	Wrap func(rueidis.Client) rueidis.Client
}

// Background is a Redis client that may connect after the process started.
type Background struct {
	client atomic.Pointer[rueidis.Client]
	stop   context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// OpenInBackground is Open for a process that must start, and serve what it can, while Redis is
// down (the gateway: its rate limits fail open and its WebSockets wait until Redis answers). It
// tries once at once; when that fails it keeps trying in the background, as r says, until ctx
// ends or Close is called. Client is nil until then. Only a malformed URL is an error.
func OpenInBackground(ctx context.Context, redisURL string, r Retry, configure ...func(*rueidis.ClientOption)) (*Background, error) {
	opt, err := options(redisURL, configure)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(ctx)
	b := &Background{stop: stop, done: make(chan struct{})}
	open := func() (rueidis.Client, error) {
		c, err := connect(opt)
		if err == nil && r.Wrap != nil {
			c = r.Wrap(c)
		}
		return c, err
	}
	c, err := open()
	if err == nil {
		b.client.Store(&c)
		close(b.done)
		return b, nil
	}
	if r.Unreachable != nil {
		r.Unreachable(err)
	}
	go func() {
		defer close(b.done)
		for n := 1; backoff.Sleep(ctx, backoff.Delay(r.MinWait, r.MaxWait, n)); n++ {
			if c, err := open(); err == nil {
				b.client.Store(&c)
				return
			}
		}
	}()
	return b, nil
}

// Client is the connected client, nil while Redis has not answered yet.
func (b *Background) Client() rueidis.Client {
	if c := b.client.Load(); c != nil {
		return *c
	}
	return nil
}

// Close stops trying and closes the client, once whatever used it has stopped.
func (b *Background) Close() {
	b.once.Do(func() {
		b.stop()
		<-b.done
		if c := b.Client(); c != nil {
			c.Close()
		}
	})
}

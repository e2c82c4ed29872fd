package realtime

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley/platform/backoff"
)

// subscriber keeps one dedicated Redis connection subscribed to the channels of the users
// connected to this gateway. When that connection breaks it reconnects, subscribes to every
// channel again and reports the gap (onResubscribed), since frames published meanwhile are lost:
// Redis pub/sub is fire-and-forget.
type subscriber struct {
	log       *slog.Logger
	onMessage func(userID string, payload []byte)
	// onResubscribed runs after a reconnection has restored the subscriptions.
	onResubscribed func()
	// wanted reports whether the user still has connections here (the truth a channel's
	// subscription is reconciled with).
	wanted func(userID string) bool
	// all lists the users with connections here.
	all     func() []string
	timeout time.Duration
	// minDelay and maxDelay bound the back-off between reconnection attempts.
	minDelay, maxDelay time.Duration

	stMu sync.Mutex
	st   RedisState

	locks [64]sync.Mutex // per-channel serialisation of (un)subscribe, by hash of the user id
	seed  maphash.Seed

	mu         sync.Mutex
	dc         rueidis.DedicatedClient // nil while disconnected
	gen        uint64                  // bumped on every new connection
	subscribed map[string]bool         // channels confirmed on the current connection
	waiters    map[string][]chan struct{}
	changed    chan struct{} // closed and replaced when the connection changes
}

func newSubscriber(log *slog.Logger, timeout, minDelay, maxDelay time.Duration) *subscriber {
	return &subscriber{
		log:        log,
		timeout:    timeout,
		minDelay:   minDelay,
		maxDelay:   maxDelay,
		seed:       maphash.MakeSeed(),
		subscribed: map[string]bool{},
		waiters:    map[string][]chan struct{}{},
		changed:    make(chan struct{}),
		st:         RedisState{State: redisConnecting, Since: time.Now()},
	}
}

// Redis subscription states (RedisState.State).
const (
	redisConnecting = "connecting"
	redisUp         = "up"
	redisDown       = "down"
)

func (s *subscriber) state() RedisState {
	s.stMu.Lock()
	defer s.stMu.Unlock()
	return s.st
}

// setState records a state change and logs it: once per change, never per attempt.
func (s *subscriber) setState(state string, err error) {
	s.stMu.Lock()
	prev := s.st.State
	if prev != state {
		s.st = RedisState{State: state, Since: time.Now()}
	}
	s.stMu.Unlock()
	if prev == state {
		return
	}
	switch {
	case state == redisUp && prev == redisDown:
		s.log.Info("realtime: redis subscription restored")
	case state == redisUp:
		s.log.Info("realtime: redis subscription up")
	case state == redisDown && prev == redisUp:
		s.log.Warn("realtime: redis subscription lost; reconnecting with back-off (WebSocket connections refused meanwhile)", slog.Any("error", err))
	case state == redisDown:
		s.log.Warn("realtime: redis unreachable; retrying with back-off (WebSocket connections refused meanwhile)", slog.Any("error", err))
	}
}

// run keeps the dedicated connection up until ctx ends. client returns the current Redis client
// (nil until connected). Between failed attempts it waits backoff.Delay; the wait starts again
// from minDelay only once a connection has held for maxDelay, so a Redis that accepts and drops
// connections is not hammered either.
func (s *subscriber) run(ctx context.Context, client func() rueidis.Client) {
	failures := 0
	everUp := false
	for ctx.Err() == nil {
		c := client()
		if c == nil { // run.go is still connecting (redisconn.OpenInBackground); it logs that
			if !backoff.Sleep(ctx, backoff.Delay(s.minDelay, s.maxDelay, failures+1)) {
				return
			}
			failures++
			continue
		}
		dc, _ := c.Dedicate() // released by dc.Close below
		errc := dc.SetPubSubHooks(rueidis.PubSubHooks{
			OnMessage: func(m rueidis.PubSubMessage) {
				if user, ok := strings.CutPrefix(m.Channel, UserChannelPrefix); ok {
					s.onMessage(user, []byte(m.Message))
				}
			},
			OnSubscription: s.confirmed,
		})
		s.mu.Lock()
		s.dc = dc
		s.gen++
		s.subscribed = map[string]bool{}
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()

		// A connection that cannot answer a PING is not up, whether or not there is anything to
		// subscribe to (without this, a dead Redis looked restored at once, in a tight loop).
		err := s.ping(ctx, dc)
		if err == nil {
			err = s.resubscribeAll(ctx)
		}
		if err == nil {
			s.setState(redisUp, nil)
			if everUp {
				s.onResubscribed()
			}
			everUp = true
			upAt := time.Now()
			select {
			case err = <-errc:
			case <-ctx.Done():
			}
			if time.Since(upAt) >= s.maxDelay {
				failures = 0
			}
		}
		s.mu.Lock()
		s.dc = nil
		s.subscribed = map[string]bool{}
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		dc.Close() // a subscribed connection is never handed back to the pool
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errNoRedis
		}
		s.setState(redisDown, err)
		if !backoff.Sleep(ctx, backoff.Delay(s.minDelay, s.maxDelay, failures+1)) {
			return
		}
		failures++
	}
}

// ping checks the dedicated connection within the timeout.
func (s *subscriber) ping(ctx context.Context, dc rueidis.DedicatedClient) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := dc.Do(ctx, dc.B().Ping().Build()).Error(); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// resubscribeAll subscribes to the channel of every user connected here, in batches.
func (s *subscriber) resubscribeAll(ctx context.Context) error {
	users := s.all()
	for len(users) > 0 {
		n := min(len(users), 500)
		batch := users[:n]
		users = users[n:]
		if err := s.reconcileBatch(ctx, batch); err != nil {
			return fmt.Errorf("resubscribe: %w", err)
		}
	}
	return nil
}

func (s *subscriber) reconcileBatch(ctx context.Context, users []string) error {
	for _, u := range users {
		if err := s.reconcile(ctx, u); err != nil {
			return err
		}
	}
	return nil
}

// confirmed is the hook for subscribe/unsubscribe confirmations.
func (s *subscriber) confirmed(sub rueidis.PubSubSubscription) {
	if sub.Kind != "subscribe" {
		return
	}
	s.mu.Lock()
	s.subscribed[sub.Channel] = true
	for _, w := range s.waiters[sub.Channel] {
		close(w)
	}
	delete(s.waiters, sub.Channel)
	s.mu.Unlock()
}

// reconcile makes the subscription of userID's channel match wanted(userID), and when it is
// wanted, returns only once Redis has confirmed it (so no frame published after that is missed).
func (s *subscriber) reconcile(ctx context.Context, userID string) error {
	lock := &s.locks[maphash.String(s.seed, userID)%uint64(len(s.locks))]
	lock.Lock()
	defer lock.Unlock()

	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ch := UserChannel(userID)
	want := s.wanted(userID)
	s.mu.Lock()
	dc, have := s.dc, s.subscribed[ch]
	for dc == nil {
		changed := s.changed
		s.mu.Unlock()
		if !want {
			return nil
		}
		// (Re)connecting: wait for it, within the timeout.
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("subscribe %s: %w", ch, errNoRedis)
		}
		s.mu.Lock()
		dc, have = s.dc, s.subscribed[ch]
	}
	if want == have {
		s.mu.Unlock()
		return nil
	}
	var wait chan struct{}
	if want {
		wait = make(chan struct{})
		s.waiters[ch] = append(s.waiters[ch], wait)
	} else {
		delete(s.subscribed, ch)
	}
	changed := s.changed
	s.mu.Unlock()

	if !want {
		if err := dc.Do(ctx, dc.B().Unsubscribe().Channel(ch).Build()).Error(); err != nil {
			return fmt.Errorf("unsubscribe %s: %w", ch, err)
		}
		return nil
	}
	if err := dc.Do(ctx, dc.B().Subscribe().Channel(ch).Build()).Error(); err != nil {
		return fmt.Errorf("subscribe %s: %w", ch, err)
	}
	select {
	case <-wait:
		return nil
	case <-changed:
		return errors.New("subscribe " + ch + ": redis connection changed")
	case <-ctx.Done():
		return fmt.Errorf("subscribe %s: no confirmation: %w", ch, ctx.Err())
	}
}

package realtime

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// chatEntry is what the chat service said about one user's chat: whether the user is a
// participant, who the peer is and whether the two may send (typing is relayed only then).
type chatEntry struct {
	found      bool
	peer       string
	canSend    bool
	fetched    time.Time
	lastTyping time.Time
}

// notFoundTTL is how long "no such chat of yours" is remembered. Shorter than the positive TTL:
// nothing invalidates it, and it only has to make a repeated unknown id cheap.
const notFoundTTL = 10 * time.Second

// chatCache keeps GetChat answers briefly, per user and chat, so a typing indicator costs no
// call to the chat service most of the time, and keeps each user's budget of upstream calls
// (see spend). Entries of a user go when the user's last connection here closes or a friendship
// of theirs ends; "not found" answers are kept too (for notFoundTTL), so a frame naming an
// unknown or foreign chat id again costs nothing.
type chatCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]map[string]*chatEntry // user → chat → entry

	budget       budget
	budgetByUser map[string]*rate.Limiter
}

// budget is how many upstream calls (chat and friend services) the frames of one user may cause
// on this gateway: calls per interval, all of them at once at most (a token bucket).
type budget struct {
	calls    int
	interval time.Duration
}

func (b budget) String() string {
	return fmt.Sprintf("too many frames that need the chat or friend service: at most %d such calls per %s for all your connections, try again later", b.calls, b.interval)
}

func newChatCache(ttl time.Duration, b budget) *chatCache {
	return &chatCache{ttl: ttl, m: map[string]map[string]*chatEntry{}, budget: b, budgetByUser: map[string]*rate.Limiter{}}
}

// spend takes one call from the user's budget and reports whether there was one. A user's bucket
// outlives their connections (a reconnection does not refill it); expire drops it once full.
func (c *chatCache) spend(user string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.budgetByUser[user]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(float64(c.budget.calls)/c.budget.interval.Seconds()), c.budget.calls)
		c.budgetByUser[user] = l
	}
	return l.AllowN(now, 1)
}

func (c *chatCache) fresh(e *chatEntry, now time.Time) bool {
	ttl := c.ttl
	if !e.found {
		ttl = min(ttl, notFoundTTL)
	}
	return now.Sub(e.fetched) <= ttl
}

// get returns a fresh entry for the user's chat.
func (c *chatCache) get(user, chat string, now time.Time) (chatEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[user][chat]
	if e == nil || !c.fresh(e, now) {
		return chatEntry{}, false
	}
	return *e, true
}

func (c *chatCache) put(user, chat string, e chatEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	byChat := c.m[user]
	if byChat == nil {
		byChat = map[string]*chatEntry{}
		c.m[user] = byChat
	}
	if old := byChat[chat]; old != nil {
		e.lastTyping = old.lastTyping
	}
	byChat[chat] = &e
}

// allowTyping reports whether a typing indicator from user in chat may be relayed now (at most
// one per interval), and records it.
func (c *chatCache) allowTyping(user, chat string, now time.Time, interval time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[user][chat]
	if e == nil {
		return false
	}
	if !e.lastTyping.IsZero() && now.Sub(e.lastTyping) < interval {
		return false
	}
	e.lastTyping = now
	return true
}

// forgetPeer drops the user's entries for chats with peer (the friendship ended).
func (c *chatCache) forgetPeer(user, peer string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for chat, e := range c.m[user] {
		if e.peer == peer {
			delete(c.m[user], chat)
		}
	}
}

func (c *chatCache) forgetUser(user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, user)
}

// expire drops stale entries, and budgets that are full again (the same as a new one).
func (c *chatCache) expire(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for user, l := range c.budgetByUser {
		if l.TokensAt(now) >= float64(c.budget.calls) {
			delete(c.budgetByUser, user)
		}
	}
	for user, byChat := range c.m {
		for chat, e := range byChat {
			if !c.fresh(e, now) {
				delete(byChat, chat)
			}
		}
		if len(byChat) == 0 {
			delete(c.m, user)
		}
	}
}

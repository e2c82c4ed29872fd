package realtime

import (
	"sync"
	"time"
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

// chatCache keeps GetChat answers briefly, per user and chat, so a typing indicator costs no
// call to the chat service most of the time. Entries of a user go when the user's last
// connection here closes or a friendship of theirs ends.
type chatCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]map[string]*chatEntry // user → chat → entry
}

func newChatCache(ttl time.Duration) *chatCache {
	return &chatCache{ttl: ttl, m: map[string]map[string]*chatEntry{}}
}

// get returns a fresh entry for the user's chat.
func (c *chatCache) get(user, chat string, now time.Time) (chatEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[user][chat]
	if e == nil || now.Sub(e.fetched) > c.ttl {
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

// expire drops stale entries.
func (c *chatCache) expire(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for user, byChat := range c.m {
		for chat, e := range byChat {
			if now.Sub(e.fetched) > c.ttl {
				delete(byChat, chat)
			}
		}
		if len(byChat) == 0 {
			delete(c.m, user)
		}
	}
}

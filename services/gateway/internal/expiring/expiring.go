// Package expiring is a bounded in-memory set of keys that each expire at their own time: what one
// gateway remembers on its own for a while, such as the client networks it refused until their
// Retry-After (package gateway) or the revoked sessions it has seen (package sessions).
package expiring

import (
	"sync"
	"time"
)

// WhenFull says what Add does with a new key when the set holds its limit of live keys (expired
// ones are dropped first).
type WhenFull int

const (
	// DropNew does not add the key. For memory that only saves work, where what is not
	// remembered is still handled the slow way (a refused network is still limited through Redis).
	DropNew WhenFull = iota
	// EvictNearest drops the key closest to its expiry to make room. For memory that must hold
	// the newest keys (a revocation just seen matters more than one about to expire).
	EvictNearest
)

// Set is a bounded set of keys with an expiry each, safe for concurrent use.
type Set struct {
	mu       sync.Mutex
	until    map[string]time.Time
	limit    int
	whenFull WhenFull
}

// New returns a Set of at most limit keys.
func New(limit int, whenFull WhenFull) *Set {
	return &Set{until: map[string]time.Time{}, limit: limit, whenFull: whenFull}
}

// Add keeps key until until. A key already there keeps the later of its two expiries: both
// uses record "until when at least", and the later answer is the safe one.
func (s *Set) Add(key string, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.until[key]; ok {
		if until.After(old) {
			s.until[key] = until
		}
		return
	}
	if len(s.until) >= s.limit && !s.makeRoom(time.Now()) {
		return
	}
	s.until[key] = until
}

// makeRoom drops the expired keys and, when that frees nothing and the policy says so, the one
// closest to expiry. It reports whether there is room for one more.
func (s *Set) makeRoom(now time.Time) bool {
	var nearest string
	var nearestUntil time.Time
	for k, u := range s.until {
		if !u.After(now) {
			delete(s.until, k)
			continue
		}
		if nearest == "" || u.Before(nearestUntil) {
			nearest, nearestUntil = k, u
		}
	}
	if len(s.until) < s.limit {
		return true
	}
	if s.whenFull == EvictNearest && nearest != "" {
		delete(s.until, nearest)
		return true
	}
	return false
}

// Until reports until when key is kept, and false when it is not there or has expired at now
// (an expired key is dropped).
func (s *Set) Until(key string, now time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.until[key]
	if ok && !u.After(now) {
		delete(s.until, key)
		return time.Time{}, false
	}
	return u, ok
}

// Len is how many keys are kept, expired ones not yet dropped included.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.until)
}

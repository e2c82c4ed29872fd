package expiring_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/parleyhq/parley/services/gateway/internal/expiring"
)

func has(s *expiring.Set, key string, now time.Time) bool {
	_, ok := s.Until(key, now)
	return ok
}

// EvictNearest (the memory of seen revocations) forgets an entry when it expires, and when full
// makes room by dropping expired entries first, then the one closest to expiry — never growing
// past its limit.
func TestEvictNearestIsBoundedAndExpires(t *testing.T) {
	now := time.Now()
	m := expiring.New(3, expiring.EvictNearest)
	m.Add("expired", now.Add(-time.Second))
	m.Add("soon", now.Add(time.Minute))
	m.Add("late", now.Add(time.Hour))
	if has(m, "expired", now) {
		t.Fatal("an expired entry is still there")
	}
	m.Add("expired-again", now.Add(-time.Second))
	m.Add("new", now.Add(2*time.Hour)) // full: the expired one goes
	for _, id := range []string{"soon", "late", "new"} {
		if !has(m, id, now) {
			t.Fatalf("%s was dropped while an expired entry could go", id)
		}
	}
	m.Add("newer", now.Add(3*time.Hour)) // full, nothing expired: the closest to expiry goes
	if has(m, "soon", now) || !has(m, "late", now) || !has(m, "newer", now) {
		t.Fatal("wrong entry dropped")
	}
	for i := range 10 {
		m.Add(strconv.Itoa(i), now.Add(time.Hour))
	}
	if n := m.Len(); n > 3 {
		t.Fatalf("%d entries kept, limit 3", n)
	}
	// A later expiry extends an entry; an earlier one does not shorten it.
	m.Add("9", now.Add(-time.Hour))
	if !has(m, "9", now) {
		t.Fatal("an earlier expiry shortened an entry")
	}
	m.Add("9", now.Add(5*time.Hour))
	if u, _ := m.Until("9", now); !u.Equal(now.Add(5 * time.Hour)) {
		t.Fatalf("a later expiry did not extend the entry: %v", u)
	}
}

// DropNew (the refused client networks) does not add a key when full of live ones, but makes room
// by dropping expired ones first.
func TestDropNewKeepsWhatItHasWhenFull(t *testing.T) {
	now := time.Now()
	m := expiring.New(2, expiring.DropNew)
	m.Add("expired", now.Add(-time.Second))
	m.Add("a", now.Add(time.Minute))
	m.Add("b", now.Add(time.Hour)) // full: the expired one makes room
	if !has(m, "b", now) || !has(m, "a", now) {
		t.Fatal("an expired key did not make room")
	}
	m.Add("c", now.Add(2*time.Hour))
	if has(m, "c", now) || !has(m, "a", now) || !has(m, "b", now) {
		t.Fatal("full of live keys: the new one must not be added, nor an old one dropped")
	}
}

package sessions

import (
	"strconv"
	"testing"
	"time"
)

// The memory of seen revocations forgets an entry when it expires, and when full makes room
// by dropping expired entries first, then the one closest to expiry — never growing past its limit.
func TestRevokedMemoryIsBoundedAndExpires(t *testing.T) {
	now := time.Now()
	m := newRevokedMemory(3)
	m.add("expired", now.Add(-time.Second))
	m.add("soon", now.Add(time.Minute))
	m.add("late", now.Add(time.Hour))
	if m.has("expired", now) {
		t.Fatal("an expired revocation is still remembered")
	}
	m.add("expired-again", now.Add(-time.Second))
	m.add("new", now.Add(2*time.Hour)) // full: the expired one goes
	for _, id := range []string{"soon", "late", "new"} {
		if !m.has(id, now) {
			t.Fatalf("%s was dropped while an expired entry could go", id)
		}
	}
	m.add("newer", now.Add(3*time.Hour)) // full, nothing expired: the closest to expiry goes
	if m.has("soon", now) || !m.has("late", now) || !m.has("newer", now) {
		t.Fatalf("wrong entry dropped: %v", m.until)
	}
	for i := range 10 {
		m.add(strconv.Itoa(i), now.Add(time.Hour))
	}
	if n := len(m.until); n > 3 {
		t.Fatalf("%d entries remembered, limit 3", n)
	}
	// A later expiry extends an entry; an earlier one does not shorten it.
	m.add("9", now.Add(-time.Hour))
	if !m.has("9", now) {
		t.Fatal("an earlier expiry shortened a remembered revocation")
	}
}

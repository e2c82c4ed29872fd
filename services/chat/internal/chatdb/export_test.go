package chatdb

// HoldSends makes s's sends queue as if as many groups as may run were being written, until
// ReleaseSends: a test can then see which sends share a group.
func HoldSends(s *Store) {
	s.sends.mu.Lock()
	defer s.sends.mu.Unlock()
	s.sends.running = maxRunningGroups
}

// QueuedSends is how many of s's sends wait in its queue.
func QueuedSends(s *Store) int {
	s.sends.mu.Lock()
	defer s.sends.mu.Unlock()
	return len(s.sends.waiting)
}

// ReleaseSends ends HoldSends: the queue becomes one group, as when a real group has been
// written, and what it leaves behind (a repeated client_msg_id, sends beyond a group) becomes the
// group after it — one at a time, so a test knows their order.
func ReleaseSends(s *Store) {
	s.sends.mu.Lock()
	s.sends.running = 1
	s.sends.mu.Unlock()
	s.handOff()
}

// MaxGroup is the most sends one group carries.
const MaxGroup = maxGroup

// The send path's statements, for tests of their plans.
const (
	SendSQL = sendSQL
	PlanSQL = planSQL
)

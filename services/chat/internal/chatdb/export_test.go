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

// ReleaseSends ends the turn of the writers HoldSends pretended, one after the other: the
// queue becomes a group, as when a real group has been written.
func ReleaseSends(s *Store) {
	for range maxRunningGroups {
		s.handOff()
	}
}

// MaxGroup is the most sends one group carries.
const MaxGroup = maxGroup

// The send path's statements, for tests of their plans.
const (
	SendSQL = sendSQL
	PlanSQL = planSQL
)

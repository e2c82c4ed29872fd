// Package logtest holds the sink a test gives to code that logs (or writes output) from its own
// goroutines while the test reads what was written: a server's request log, a limiter's warnings,
// a dev stack's output.
package logtest

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer safe for concurrent writes and reads. The zero value is ready to use.
type Buffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

// String is everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Writes is how many Write calls there have been, for a test of how output is batched.
func (s *Buffer) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

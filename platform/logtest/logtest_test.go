package logtest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestBufferKeepsEveryConcurrentWrite(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				fmt.Fprintf(&b, "w%d-%d\n", i, j)
				_ = b.String() // read while others write: the race detector checks the lock
			}
		})
	}
	wg.Wait()
	if got := strings.Count(b.String(), "\n"); got != 800 {
		t.Fatalf("lines = %d, want 800", got)
	}
	if b.Writes() != 800 {
		t.Fatalf("writes = %d, want 800", b.Writes())
	}
	for i := range 8 {
		if !strings.Contains(b.String(), fmt.Sprintf("w%d-99\n", i)) {
			t.Fatalf("writer %d's last line is missing", i)
		}
	}
}

package defaults

import (
	"testing"
	"time"
)

// Positive keeps a positive value and gives the default for 0 and for a negative one.
func TestPositive(t *testing.T) {
	if got := Positive(3*time.Second, time.Minute); got != 3*time.Second {
		t.Fatalf("Positive(3s) = %v", got)
	}
	for _, v := range []int{0, -1} {
		if got := Positive(v, 32); got != 32 {
			t.Fatalf("Positive(%d, 32) = %d", v, got)
		}
	}
	if got := Positive(0.5, 0.2); got != 0.5 {
		t.Fatalf("Positive(0.5) = %v", got)
	}
}

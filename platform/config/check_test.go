package config

import (
	"errors"
	"testing"
	"time"
)

// Positive and NotNegative name each refused variable with its value, in name order, and pass
// the rest.
func TestPositiveAndNotNegative(t *testing.T) {
	got := errors.Join(Positive(map[string]time.Duration{"B_TTL": 0, "A_TTL": -time.Second, "C_TTL": time.Second})...)
	if want := "A_TTL -1s: must be positive\nB_TTL 0s: must be positive"; got == nil || got.Error() != want {
		t.Fatalf("Positive: %v, want %q", got, want)
	}
	got = errors.Join(NotNegative(map[string]int64{"MAX_BYTES": -3, "LIMIT": 0})...)
	if want := "MAX_BYTES -3: must not be negative"; got == nil || got.Error() != want {
		t.Fatalf("NotNegative: %v, want %q", got, want)
	}
	if errs := NotNegative(map[string]int32{"CONNS": 0}); errs != nil {
		t.Fatalf("NotNegative(0) = %v", errs)
	}
}

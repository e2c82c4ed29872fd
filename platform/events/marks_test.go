package events_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/parleyhq/parley/platform/events"
)

// A mark is found anywhere in a handler's error: wrapped, joined, or under the other mark. A
// Transient mark keeps the event out of the attempt count wherever it is, so an effect that must
// not be lost is never dead-lettered because a Permanent was put around it.
func TestMarks(t *testing.T) {
	cause := errors.New("cause")
	for _, tc := range []struct {
		name              string
		err               error
		permanent, counts bool
	}{
		{"unmarked", cause, false, true},
		{"Permanent", events.Permanent(cause), true, true},
		{"Transient", events.Transient(cause), false, false},
		{"wrapped Permanent", fmt.Errorf("apply: %w", events.Permanent(cause)), true, true},
		{"Transient inside Permanent", events.Permanent(events.Transient(cause)), true, false},
		{"Permanent joined with Transient", errors.Join(events.Permanent(cause), events.Transient(cause)), true, false},
	} {
		if got := events.IsPermanent(tc.err); got != tc.permanent {
			t.Errorf("%s: IsPermanent = %v, want %v", tc.name, got, tc.permanent)
		}
		if got := events.Counts(tc.err); got != tc.counts {
			t.Errorf("%s: Counts = %v, want %v", tc.name, got, tc.counts)
		}
		if !errors.Is(tc.err, cause) {
			t.Errorf("%s: the cause is lost", tc.name)
		}
	}
	if events.Permanent(nil) != nil || events.Transient(nil) != nil {
		t.Error("a nil error was marked")
	}
}

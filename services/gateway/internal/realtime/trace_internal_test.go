package realtime

import (
	"bytes"
	"testing"
)

// TestTraceContextRidesInFrontOfTheFrame: what the fan-out publishes with trace context comes
// apart into that context and the frame exactly as it was, and a frame published without one is
// passed on untouched.
func TestTraceContextRidesInFrontOfTheFrame(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	frame := []byte(`{"type":"message","chat_id":"c1"}`)
	got, rest := splitTrace(WithTrace(tp, frame))
	if got != tp || !bytes.Equal(rest, frame) {
		t.Errorf("split = %q, %q; want %q, %q", got, rest, tp, frame)
	}
	if p := WithTrace("", frame); !bytes.Equal(p, frame) {
		t.Errorf("WithTrace without context = %q, want the frame itself", p)
	}
	if got, rest := splitTrace(frame); got != "" || !bytes.Equal(rest, frame) {
		t.Errorf("split of a plain frame = %q, %q", got, rest)
	}
	if _, err := parseRoute(WithTrace(tp, frame)); err == nil {
		t.Error("a frame with its trace prefix parses as a route: the hub must strip it first")
	}
}

package main

import (
	"testing"
	"time"
)

func TestQuietWatch(t *testing.T) {
	q := &quietWatch{threshold: 0.1}
	t0 := time.Now()
	add := func(ms int, ticks uint64) {
		q.samples = append(q.samples, quietSample{at: t0.Add(time.Duration(ms) * time.Millisecond), ticks: ticks})
	}
	add(0, 1000)
	add(250, 1040) // 0.4 s of CPU in 0.25 s: busy
	if q.atRest() {
		t.Fatal("at rest with less than a window of samples")
	}
	add(500, 1041)
	add(750, 1042)
	add(1000, 1043)
	// Over the last 750 ms: 3 ticks = 0.03 s in 0.75 s = 0.04 cores, below 0.1.
	if !q.atRest() {
		t.Fatalf("not at rest at %.2f cores", q.rate(1))
	}
	add(1250, 1080) // busy again
	if q.atRest() {
		t.Fatal("at rest although the last samples are busy")
	}
	if got := q.lastCores(); got < 1.47 || got > 1.49 {
		t.Fatalf("lastCores = %v, want 1.48", got)
	}
	if w := newQuietWatch(nil, 0.01); w.threshold != quietFloorCores {
		t.Fatalf("threshold %v, want the floor", w.threshold)
	}
}

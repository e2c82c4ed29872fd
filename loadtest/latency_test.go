package main

import (
	"slices"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // 100 ms … 1 ms, unsorted on purpose
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	orig := slices.Clone(ds)
	got := summarize(ds)
	want := Latency{Count: 100, MeanMs: 50.5, P50Ms: 50, P90Ms: 90, P99Ms: 99, MaxMs: 100}
	if got != want {
		t.Fatalf("summarize = %+v, want %+v", got, want)
	}
	if !slices.Equal(ds, orig) {
		t.Fatal("summarize reordered its input")
	}

	// Few samples: p99 of 10 samples is the largest; p50 of 10 is the 5th.
	ten := []time.Duration{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}
	s := slices.Sorted(slices.Values(ten))
	if p := percentile(s, 99); p != 10 {
		t.Errorf("p99 of 10 = %v, want 10", p)
	}
	if p := percentile(s, 50); p != 5 {
		t.Errorf("p50 of 10 = %v, want 5", p)
	}
	if p := percentile(s, 100); p != 10 {
		t.Errorf("p100 = %v", p)
	}
	if p := percentile([]time.Duration{7}, 1); p != 7 {
		t.Errorf("p1 of one sample = %v", p)
	}
	if p := percentile(nil, 50); p != 0 {
		t.Errorf("p50 of nothing = %v", p)
	}
	if got := summarize(nil); got != (Latency{}) {
		t.Errorf("summarize(nil) = %+v", got)
	}
}

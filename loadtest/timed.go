package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// timedRun is what runTimed measured.
type timedRun struct {
	elapsed time.Duration
	done    int64   // operations that succeeded
	latency Latency // of the operations that succeeded
	cpu     PhaseCPU
}

// runTimed is a closed-loop baseline: workers goroutines each call op again as soon as it returns,
// for the baseline duration or until ctx ends, under a progress line ("<label> 3s/10s <unit>s 1,234
// (411/s)"), with the stack's CPU measured per operation that succeeded (unit). op gets a context
// that outlives ctx, so the calls in flight when ctx ends finish; each worker (0..workers-1) may use
// a connection of its own. A failed op is not timed: failed gets its error and returns true to end
// that worker (its connection is gone).
func (r *runner) runTimed(ctx context.Context, label, unit string, workers int, op func(ctx context.Context, worker int) error, failed func(worker int, err error) (stop bool)) timedRun {
	var done atomic.Int64
	lats := make([][]time.Duration, workers)
	before := r.cpu.snapshot()
	start := time.Now()
	deadline := start.Add(r.cfg.BaselineDuration)
	stop := every(start, func(el time.Duration) {
		n := done.Load()
		r.prog.show("%s %s/%s  %ss %s (%s/s)", label, secs(el), secs(r.cfg.BaselineDuration), unit, thousands(n), thousands(int64(float64(n)/el.Seconds())))
	})
	opCtx := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				t0 := time.Now()
				if err := op(opCtx, w); err != nil {
					if failed(w, err) {
						return
					}
					continue
				}
				lats[w] = append(lats[w], time.Since(t0))
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	after := r.cpu.snapshot()
	stop()
	r.prog.end()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	return timedRun{
		elapsed: elapsed,
		done:    done.Load(),
		latency: summarize(all),
		cpu:     r.cpu.diff(before, after, unit, done.Load()),
	}
}

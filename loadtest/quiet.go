package main

// Knowing when the stack is done: after a message phase, work continues after the last frame
// (a consumer's backlog, outbox relays, notifications that raise no frame). The drain waits until
// the stack's CPU rate is back near what it uses at rest, measured once before the phases.

import "time"

const (
	// quietSampleEvery is how often the drain reads /proc (every process of the stack).
	quietSampleEvery = 250 * time.Millisecond
	// quietWindow is how long the stack must stay near its rest rate.
	quietWindow = 750 * time.Millisecond
	// quietFloorCores: below this the stack counts as at rest whatever its rest rate (the clock
	// tick is 10 ms, so shorter windows cannot resolve less).
	quietFloorCores = 0.05
)

type quietWatch struct {
	cpu       *cpuWatch
	threshold float64 // cores
	samples   []quietSample
}

type quietSample struct {
	at    time.Time
	ticks uint64
}

// newQuietWatch considers the stack at rest below twice restCores (its rate measured at rest).
func newQuietWatch(cpu *cpuWatch, restCores float64) *quietWatch {
	return &quietWatch{cpu: cpu, threshold: max(2*restCores, quietFloorCores)}
}

// sample reads the stack's CPU when the last reading is older than quietSampleEvery.
func (q *quietWatch) sample() {
	now := time.Now()
	if n := len(q.samples); n > 0 && now.Sub(q.samples[n-1].at) < quietSampleEvery {
		return
	}
	q.samples = append(q.samples, quietSample{at: now, ticks: q.cpu.stackTicks()})
}

// rate is the stack's CPU in cores over the samples from i to the last.
func (q *quietWatch) rate(i int) float64 {
	a, b := q.samples[i], q.samples[len(q.samples)-1]
	d := b.at.Sub(a.at).Seconds()
	if d <= 0 || b.ticks < a.ticks {
		return 0
	}
	return ticksToSeconds(b.ticks-a.ticks) / d
}

// atRest reports whether the stack ran below the threshold over the last quietWindow.
func (q *quietWatch) atRest() bool {
	n := len(q.samples)
	if n < 2 {
		return false
	}
	last := q.samples[n-1].at
	for i := n - 2; i >= 0; i-- {
		if last.Sub(q.samples[i].at) >= quietWindow {
			return q.rate(i) <= q.threshold
		}
	}
	return false
}

// lastCores is the rate between the last two samples, for the progress line.
func (q *quietWatch) lastCores() float64 {
	if len(q.samples) < 2 {
		return 0
	}
	return q.rate(len(q.samples) - 2)
}

// stackTicks sums the CPU ticks of the stack's processes (not the load generator's).
func (w *cpuWatch) stackTicks() uint64 {
	s := w.snapshot()
	var sum uint64
	for _, p := range w.procs {
		if p.PID != 0 && p.PID != w.selfPID {
			sum += s.ticks[p.Name]
		}
	}
	return sum
}

// measureRest returns the stack's CPU rate, in cores, over d while nothing is asked of it.
func (w *cpuWatch) measureRest(d time.Duration) float64 {
	a, t0 := w.stackTicks(), time.Now()
	time.Sleep(d)
	b := w.stackTicks()
	if b < a {
		return 0
	}
	return ticksToSeconds(b-a) / time.Since(t0).Seconds()
}

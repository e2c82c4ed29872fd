package mediaimage

import (
	"context"
	"fmt"
	"time"
)

// Processor runs Process with a bounded number of images in work at once and a time budget for
// each. Decoding and encoding cannot be interrupted, so an image over its budget is abandoned: the
// caller gets a refusal at once, and the abandoned work keeps its worker slot until it really ends,
// so abandoned images never pile up beyond the worker count.
type Processor struct {
	slots   chan struct{}
	timeout time.Duration
	// process is Process; tests replace it to hold an image in work.
	process func(data []byte, ct string, lim Limits, mode ThumbMode) (Output, error)
}

// NewProcessor returns a Processor running at most workers images at once (at least 1), each
// refused once it has been in work for timeout (no budget when timeout <= 0).
func NewProcessor(workers int, timeout time.Duration) *Processor {
	return &Processor{slots: make(chan struct{}, max(1, workers)), timeout: timeout, process: Process}
}

// Process is the package's Process under the Processor's bounds. Waiting for a worker ends with
// ctx (the error wraps ctx.Err(): nothing is wrong with the image); an image still in work after
// the budget is a *Problem of kind TooLarge.
func (p *Processor) Process(ctx context.Context, data []byte, ct string, lim Limits, mode ThumbMode) (Output, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return Output{}, fmt.Errorf("wait for an image worker: %w", ctx.Err())
	}
	type result struct {
		out Output
		err error
	}
	done := make(chan result, 1) // buffered: an abandoned worker can still hand in its result
	go func() {
		defer func() { <-p.slots }()
		out, err := p.process(data, ct, lim, mode)
		done <- result{out, err}
	}()
	var budget <-chan time.Time
	if p.timeout > 0 {
		t := time.NewTimer(p.timeout)
		defer t.Stop()
		budget = t.C
	}
	select {
	case r := <-done:
		return r.out, r.err
	case <-budget:
		return Output{}, &Problem{Kind: TooLarge, Message: fmt.Sprintf("the image takes too long to process (over %v); send a smaller or simpler image", p.timeout)}
	case <-ctx.Done():
		return Output{}, fmt.Errorf("process image: %w", ctx.Err())
	}
}

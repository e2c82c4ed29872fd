package mediaimage

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/platform/waittest"
)

// TestProcessorAbandonsImagesOverBudget: decoding cannot be interrupted, so an image still in work
// after the budget is refused at once while its work goes on, holding its worker until it ends;
// no more images than workers are ever in work, abandoned ones included.
func TestProcessorAbandonsImagesOverBudget(t *testing.T) {
	p := NewProcessor(1, 20*time.Millisecond)
	release := make(chan struct{})
	p.process = func([]byte, string, Limits, ThumbMode) (Output, error) {
		<-release // an image that takes for ever to decode
		return Output{ContentType: PNG}, nil
	}
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	errc := make(chan error, 1)
	go func() { _, err := p.Process(context.Background(), nil, PNG, Limits{}, Fit); errc <- err }()
	var err error
	select {
	case err = <-errc:
	case <-time.After(10 * time.Second):
		t.Fatal("an image over its budget was waited for instead of refused")
	}
	var prob *Problem
	if !errors.As(err, &prob) || prob.Kind != TooLarge || !strings.Contains(prob.Message, "takes too long to process (over 20ms)") {
		t.Fatalf("an image over its budget: %v", err)
	}
	if len(p.slots) != 1 {
		t.Fatalf("the abandoned image must keep its worker while it runs; %d in use", len(p.slots))
	}
	// The one worker is busy: the next image waits, and gives up with its caller.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = p.Process(ctx, nil, PNG, Limits{}, Fit)
	if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &prob) {
		t.Fatalf("waiting for a worker past the caller's deadline: %v, want the context's error", err)
	}

	close(release) // the abandoned decode ends and frees its worker
	waittest.Until(t, "the worker to be freed", func() bool { return len(p.slots) == 0 })
	p.process = func([]byte, string, Limits, ThumbMode) (Output, error) { return Output{ContentType: PNG}, nil }
	if out, err := p.Process(context.Background(), nil, PNG, Limits{}, Fit); err != nil || out.ContentType != PNG {
		t.Fatalf("after the worker is back: %v %v", out, err)
	}
}

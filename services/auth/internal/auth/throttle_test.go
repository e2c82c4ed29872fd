package auth

import (
	"errors"
	"testing"
	"time"

	"github.com/parleyhq/parley/platform/domainerr"
)

func TestBackoffDoublesUpToTheMaximum(t *testing.T) {
	p := DefaultThrottlePolicy // 5 free, 1s doubling, 15m maximum
	want := map[int]time.Duration{0: 0, 4: 0, 5: time.Second, 6: 2 * time.Second, 10: 32 * time.Second,
		14: 512 * time.Second, 15: 15 * time.Minute, 100: 15 * time.Minute, 1 << 30: 15 * time.Minute}
	for failures, d := range want {
		if got := p.Backoff(failures); got != d {
			t.Errorf("Backoff(%d) = %s; want %s", failures, got, d)
		}
	}
}

func TestThrottlePolicyValidate(t *testing.T) {
	if err := DefaultThrottlePolicy.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*ThrottlePolicy){
		"no free failures":        func(p *ThrottlePolicy) { p.FreeFailures = 0 },
		"zero base delay":         func(p *ThrottlePolicy) { p.BaseDelay = 0 },
		"max below base":          func(p *ThrottlePolicy) { p.MaxDelay = p.BaseDelay / 2 },
		"forgets during back-off": func(p *ThrottlePolicy) { p.ForgetAfter = p.MaxDelay - time.Second },
		"negative ceiling":        func(p *ThrottlePolicy) { p.AccountMaxFailures = -1 },
		"zero window":             func(p *ThrottlePolicy) { p.AccountWindow = 0 },
	} {
		p := DefaultThrottlePolicy
		mutate(&p)
		if p.Validate() == nil {
			t.Errorf("Validate accepted a policy with %s", name)
		}
	}
}

func TestThrottledErrorRoundsUp(t *testing.T) {
	err := throttledError(1500 * time.Millisecond)
	var de *domainerr.Error
	if !errors.As(err, &de) || !errors.Is(err, ErrTooManyAttempts) || de.RetryAfter != 2*time.Second ||
		de.Msg != "too many failed sign-in attempts for this email; try again in 2 seconds" {
		t.Fatalf("throttledError(1.5s) = %#v", err)
	}
}

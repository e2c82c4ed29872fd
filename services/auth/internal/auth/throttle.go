package auth

import (
	"crypto/sha256"
	"fmt"
	"math"
	"time"

	"github.com/parleyhq/parley/platform/domainerr"
)

// ThrottlePolicy slows password guessing against one account. Every Login attempt is keyed by the
// account (the normalised email, registered or not, so throttling says nothing about whether it
// exists) and the client (see authrpc's ClientKey: an IPv4 address or an IPv6 /64):
//
//   - per account × client: after FreeFailures failures in a row, each further failure makes that
//     client wait BaseDelay, then twice as long, … up to MaxDelay before it may try again. A
//     success resets it; so does ForgetAfter without a failure. Only the guessing client waits:
//     the owner signing in from elsewhere is not affected.
//   - per account, across all clients: once AccountMaxFailures failures happened within one
//     AccountWindow, clients that are not familiar (no successful sign-in to this account within
//     FamiliarFor) are refused until the window ends. This caps guessing from many addresses; the
//     owner's usual clients keep working while an attack goes on.
//
// An attempt counts as a failure from the moment it starts (so concurrent attempts cannot slip
// past the limit) and is taken back when it succeeds.
type ThrottlePolicy struct {
	FreeFailures       int
	BaseDelay          time.Duration
	MaxDelay           time.Duration
	ForgetAfter        time.Duration
	AccountMaxFailures int // 0: no per-account ceiling
	AccountWindow      time.Duration
	FamiliarFor        time.Duration
}

// DefaultThrottlePolicy is what the service uses unless configured otherwise (docs/auth.md).
var DefaultThrottlePolicy = ThrottlePolicy{
	FreeFailures:       5,
	BaseDelay:          time.Second,
	MaxDelay:           15 * time.Minute,
	ForgetAfter:        24 * time.Hour,
	AccountMaxFailures: 50,
	AccountWindow:      15 * time.Minute,
	FamiliarFor:        30 * 24 * time.Hour,
}

// Validate reports settings that would disable or invert the throttle by accident.
func (p ThrottlePolicy) Validate() error {
	switch {
	case p.FreeFailures < 1:
		return fmt.Errorf("free login failures must be at least 1, got %d", p.FreeFailures)
	case p.BaseDelay <= 0 || p.MaxDelay < p.BaseDelay:
		return fmt.Errorf("login back-off must be positive and its maximum at least its base, got %s and %s", p.BaseDelay, p.MaxDelay)
	case p.ForgetAfter < p.MaxDelay:
		return fmt.Errorf("login failures must be remembered at least as long as the longest back-off (%s), got %s", p.MaxDelay, p.ForgetAfter)
	case p.AccountMaxFailures < 0 || p.AccountWindow <= 0:
		return fmt.Errorf("account login ceiling must be non-negative and its window positive, got %d per %s", p.AccountMaxFailures, p.AccountWindow)
	case p.FamiliarFor < 0:
		return fmt.Errorf("familiar client lifetime must not be negative, got %s", p.FamiliarFor)
	}
	return nil
}

// Backoff is how long a client must wait after its n-th failure in a row: nothing before
// FreeFailures, then BaseDelay doubling with each failure up to MaxDelay.
func (p ThrottlePolicy) Backoff(failures int) time.Duration {
	over := failures - p.FreeFailures
	if over < 0 {
		return 0
	}
	if over >= 62 || float64(p.BaseDelay)*math.Exp2(float64(over)) >= float64(p.MaxDelay) {
		return p.MaxDelay
	}
	return p.BaseDelay << over
}

// LoginKey names the throttle state of one account × client.
type LoginKey struct {
	// Account is the SHA-256 of the normalised email: fixed-size, and the throttle tables hold no
	// addresses people typed.
	Account []byte
	Client  string
}

// NewLoginKey returns the key of a normalised email and a client key.
func NewLoginKey(email, client string) LoginKey {
	sum := sha256.Sum256([]byte(email))
	return LoginKey{Account: sum[:], Client: client}
}

// LoginThrottleState is the stored state of one account × client, with its account's counters.
// Zero times mean "never".
type LoginThrottleState struct {
	Failures     int // of this client in a row
	LastFailure  time.Time
	BlockedUntil time.Time
	LastSuccess  time.Time

	AccountFailures    int // of all clients in the current window
	AccountWindowStart time.Time
}

// Begin decides whether an attempt may go ahead at now. When it may, it counts the attempt as a
// failure (Succeed takes that back) and returns 0; otherwise it changes nothing and returns how
// long to wait.
func (p ThrottlePolicy) Begin(s *LoginThrottleState, now time.Time) time.Duration {
	if s.Failures > 0 && now.Sub(s.LastFailure) >= p.ForgetAfter {
		s.Failures, s.BlockedUntil = 0, time.Time{}
	}
	if now.Before(s.BlockedUntil) {
		return s.BlockedUntil.Sub(now)
	}
	if !s.AccountWindowStart.IsZero() && now.Sub(s.AccountWindowStart) >= p.AccountWindow {
		s.AccountFailures, s.AccountWindowStart = 0, time.Time{}
	}
	familiar := !s.LastSuccess.IsZero() && now.Sub(s.LastSuccess) < p.FamiliarFor
	if p.AccountMaxFailures > 0 && s.AccountFailures >= p.AccountMaxFailures && !familiar {
		return s.AccountWindowStart.Add(p.AccountWindow).Sub(now)
	}
	s.Failures++
	s.LastFailure = now
	if d := p.Backoff(s.Failures); d > 0 {
		s.BlockedUntil = now.Add(d)
	}
	if s.AccountWindowStart.IsZero() {
		s.AccountWindowStart = now
	}
	s.AccountFailures++
	return 0
}

// Succeed records that the attempt Begin let through signed in: the client's failures are
// cleared, the client becomes familiar, and the attempt no longer counts against the account.
func (p ThrottlePolicy) Succeed(s *LoginThrottleState, now time.Time) {
	s.Failures, s.BlockedUntil, s.LastSuccess = 0, time.Time{}, now
	if s.AccountFailures > 0 {
		s.AccountFailures--
	}
}

// throttledError is the answer to a refused attempt. The wait is rounded up to whole seconds,
// in the message and in RetryAfter (authrpc sends it as a Retry-After header).
func throttledError(wait time.Duration) error {
	return retryAfter(ErrTooManyAttempts, "too many failed sign-in attempts for this email", wait)
}

// retryAfter is an error of kind saying what was refused and when to try again: wait in whole
// seconds rounded up (never 0), in the message and as RetryAfter, so a client that waits exactly
// Retry-After is let through.
func retryAfter(kind error, what string, wait time.Duration) error {
	secs := int64(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	unit := "seconds"
	if secs == 1 {
		unit = "second"
	}
	return &domainerr.Error{
		Kind:       kind,
		Msg:        fmt.Sprintf("%s; try again in %d %s", what, secs, unit),
		RetryAfter: time.Duration(secs) * time.Second,
	}
}

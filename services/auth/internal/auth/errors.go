package auth

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors of the auth domain. Every error the domain returns to a caller wraps one of them;
// internal/authrpc maps each to a Connect code. Anything else is an internal failure.
var (
	// ErrInvalidArgument: the request is malformed; the message names the field and why.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrAlreadyExists: the thing to create exists (an email already registered).
	ErrAlreadyExists = errors.New("already exists")
	// ErrUnauthenticated: credentials or a refresh token were not accepted.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrNotFound: the named thing does not exist (an OAuth provider, an account).
	ErrNotFound = errors.New("not found")
	// ErrBusy: too many password hashes are queued; the caller should retry shortly.
	ErrBusy = errors.New("busy")
	// ErrTooManyAttempts: sign-in attempts for this account are throttled after failures; the
	// *Error carries how long to wait (RetryAfter).
	ErrTooManyAttempts = errors.New("too many attempts")
	// ErrUnavailable: a system the request depends on (an OAuth provider) did not answer.
	ErrUnavailable = errors.New("unavailable")
	// ErrFailedPrecondition: the request cannot be carried out in the current state (an OAuth
	// flow that expired or whose identity cannot be linked).
	ErrFailedPrecondition = errors.New("failed precondition")
)

// Error is a domain error whose message is meant for the person using the API: Error() returns
// only the message ("email: already registered"), while errors.Is still finds the sentinel.
// Cause, when set, is what went wrong inside (a provider's answer, a dial error): it is kept for
// the logs (platform/server logs the whole chain) and never sent.
type Error struct {
	Kind  error
	Msg   string
	Cause error
	// RetryAfter, when positive, is how long the caller should wait before trying again (sent as
	// a Retry-After header).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Msg }

func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

// Errorf builds an *Error of the given kind.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Errors returned by use cases; compare with errors.Is.
var (
	// ErrEmailTaken is returned by Register (and Store.CreateAccount) for a registered email.
	ErrEmailTaken = Errorf(ErrAlreadyExists, "email: already registered")
	// ErrBadCredentials is the one answer to a failed password login, whether the email is
	// unknown or the password wrong.
	ErrBadCredentials = Errorf(ErrUnauthenticated, "email or password is incorrect")
	// ErrAccountNotFound: the account named by a valid access token no longer exists.
	ErrAccountNotFound = Errorf(ErrNotFound, "account not found")
)

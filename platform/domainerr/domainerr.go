// Package domainerr is the one error type a service's domain returns to its callers: a message
// written for the person using the API, a kind saying what went wrong in words every transport
// understands, and optionally the internal cause for the logs.
//
// Use it in a service's domain package for every error a caller should see (a bad field, a
// missing thing, a refused action):
//
//	domainerr.Errorf(domainerr.ErrInvalidArgument, "text: at most %d characters", n)
//
// platform/server turns each kind into a Connect code (server.DefaultErrorCodes) and sends the
// message as it is; anything that is not a domain error becomes Internal with a generic message.
// A domain uses the standard kinds under these names (its errors.go says what each means there)
// and declares only kinds of its own, which its rpc package then maps to codes.
package domainerr

import (
	"errors"
	"fmt"
	"time"
)

// The standard kinds. They name the situation, not a transport; the default table in
// platform/server maps each to the Connect code of the same name.
var (
	// ErrInvalidArgument: the request is malformed; the message names the field and why.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound: the thing named does not exist (or the caller may not know that it does).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: the thing to create exists already.
	ErrAlreadyExists = errors.New("already exists")
	// ErrPermissionDenied: the caller is known but may not do this.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrFailedPrecondition: the request is well formed but the current state does not allow it.
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrResourceExhausted: a quota or rate limit would be exceeded; the caller may retry later.
	ErrResourceExhausted = errors.New("resource exhausted")
	// ErrUnauthenticated: the caller's credentials were not accepted.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrUnavailable: a system the request depends on cannot be reached; retrying may succeed.
	ErrUnavailable = errors.New("unavailable")
)

// Error is a domain error. Error() returns only Msg, the text for the caller; errors.Is finds
// Kind, and Cause (what went wrong inside: a dial error, a provider's answer) stays reachable for
// errors.Is/As and the logs, never sent.
type Error struct {
	Kind  error
	Msg   string
	Cause error
	// RetryAfter, when positive, is how long the caller should wait before trying again;
	// platform/server sends it as a Retry-After header.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the kind and, when there is one, the cause.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

// Errorf returns an error of kind with a formatted message for the caller.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Wrap is Errorf that also keeps cause, for errors.Is/As and the logs; the caller sees only the
// formatted message.
func Wrap(kind, cause error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...), Cause: cause}
}

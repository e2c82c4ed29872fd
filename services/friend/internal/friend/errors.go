package friend

import (
	"errors"
	"fmt"
)

// Sentinel errors of the friend domain. Use cases wrap them with a message a person can act on;
// only the rpc layer (friendrpc/errors.go) turns them into Connect codes.
var (
	// ErrInvalidArgument: a request field is malformed; the message names the field and why.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound: the user or the pending request named does not exist (for the caller).
	ErrNotFound = errors.New("not found")
	// ErrPermissionDenied: the caller is on the wrong side of a request, or asks about others.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrFailedPrecondition: the caller's own block stands in the way (unblock first).
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrResourceExhausted: the caller sent too many requests recently.
	ErrResourceExhausted = errors.New("resource exhausted")
)

// Error is a domain error: Error() is the message for a person ("user_id: no such user"),
// errors.Is matches its sentinel kind.
type Error struct {
	kind error
	msg  string
}

func (e *Error) Error() string { return e.msg }

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.kind }

// Errorf returns an error of kind (one of the sentinels above) with a formatted message.
func Errorf(kind error, format string, args ...any) error {
	return &Error{kind: kind, msg: fmt.Sprintf(format, args...)}
}

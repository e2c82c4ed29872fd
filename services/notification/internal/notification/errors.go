package notification

import (
	"errors"
	"fmt"
)

// Sentinel errors of the notification domain. Use cases wrap them with a message a person can act
// on; only the rpc layer (notificationrpc/errors.go) turns them into Connect codes.
var (
	// ErrInvalidArgument: a request field is malformed; the message names the field and why.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrPermissionDenied: the caller may not do this (Notify without the internal secret).
	ErrPermissionDenied = errors.New("permission denied")
	// ErrInvalidEvent: an event that cannot be applied whatever happens (malformed ids); the
	// consumer dead-letters it instead of retrying.
	ErrInvalidEvent = errors.New("invalid event")
)

// Error is a domain error: Error() is the message for a person ("chat_id: must be a UUID"),
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

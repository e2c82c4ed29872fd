package media

import (
	"errors"
	"fmt"
)

// Sentinel errors of the media domain. Use cases wrap them with a message a person can act on;
// only the rpc layer (mediarpc/errors.go) turns them into Connect codes.
var (
	// ErrInvalidArgument: a request field is malformed, or an upload failed its checks (then the
	// error is a *RejectedError); the message names the field, or the reason, and why.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound: no such file (or chat) visible to the caller. Files others may not see are
	// reported exactly like files that do not exist.
	ErrNotFound = errors.New("not found")
	// ErrFailedPrecondition: the request is well formed but the state does not allow it yet or
	// any more (nothing uploaded yet; the caller may not send in that chat).
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrResourceExhausted: the storage quota or the limit of pending uploads would be exceeded.
	ErrResourceExhausted = errors.New("resource exhausted")
	// ErrPermissionDenied: an internal method called without being a Parley service.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrUnavailable: a system the request depends on (the chat service) cannot be reached;
	// retrying later may succeed.
	ErrUnavailable = errors.New("unavailable")
)

// Error is a domain error: Error() is the message for a person, errors.Is matches its sentinel.
type Error struct {
	kind  error
	msg   string
	cause error
}

func (e *Error) Error() string { return e.msg }

// Unwrap returns the sentinel and, when there is one, the underlying cause.
func (e *Error) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.kind}
}

// Errorf returns an error of kind (one of the sentinels above) with a formatted message.
func Errorf(kind error, format string, args ...any) error {
	return &Error{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// WrapError is Errorf that also keeps cause for errors.Is/As and logs (the message shown to a
// person is only the formatted one).
func WrapError(kind, cause error, format string, args ...any) error {
	return &Error{kind: kind, msg: fmt.Sprintf(format, args...), cause: cause}
}

// RejectedError is CompleteUpload's answer for a file that failed a check: an ErrInvalidArgument
// carrying the reason, which the rpc layer also attaches as an UploadRejection error detail.
type RejectedError struct {
	FileID    string
	Rejection Rejection
}

func (e *RejectedError) Error() string { return "upload rejected: " + e.Rejection.Message }

// Unwrap makes a rejection an ErrInvalidArgument.
func (e *RejectedError) Unwrap() error { return ErrInvalidArgument }

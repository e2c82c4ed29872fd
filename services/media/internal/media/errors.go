package media

import "github.com/parleyhq/parley/platform/domainerr"

// Error kinds of the media domain: the standard ones, named for what they mean here. Use cases
// return a *domainerr.Error of one of them with a message a person can act on; platform/server
// turns the kind into a Connect code.
var (
	// ErrInvalidArgument: a request field is malformed, or an upload failed its checks (then the
	// error is a *RejectedError); the message names the field, or the reason, and why.
	ErrInvalidArgument = domainerr.ErrInvalidArgument
	// ErrNotFound: no such file (or chat) visible to the caller. Files others may not see are
	// reported exactly like files that do not exist.
	ErrNotFound = domainerr.ErrNotFound
	// ErrFailedPrecondition: the request is well formed but the state does not allow it yet or
	// any more (nothing uploaded yet; the caller may not send in that chat).
	ErrFailedPrecondition = domainerr.ErrFailedPrecondition
	// ErrResourceExhausted: the storage quota or the limit of pending uploads would be exceeded.
	ErrResourceExhausted = domainerr.ErrResourceExhausted
	// ErrPermissionDenied: an internal method called without being a Parley service.
	ErrPermissionDenied = domainerr.ErrPermissionDenied
	// ErrUnavailable: a system the request depends on (the chat service) cannot be reached;
	// retrying later may succeed.
	ErrUnavailable = domainerr.ErrUnavailable
)

// RejectedError is CompleteUpload's answer for a file that failed a check: an ErrInvalidArgument
// carrying the reason, which the rpc layer also attaches as an UploadRejection error detail.
type RejectedError struct {
	FileID    string
	Rejection Rejection
}

func (e *RejectedError) Error() string { return "upload rejected: " + e.Rejection.Message }

// Unwrap makes a rejection an ErrInvalidArgument.
func (e *RejectedError) Unwrap() error { return ErrInvalidArgument }

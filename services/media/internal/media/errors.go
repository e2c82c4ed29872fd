package media

import "github.com/parleyhq/parley/platform/domainerr"

// Use cases return a *domainerr.Error of a standard kind (platform/domainerr) with a message a
// person can act on; platform/server turns the kind into a Connect code. In the media domain:
//
//   - domainerr.ErrInvalidArgument: a request field is malformed, or an upload failed its checks
//     (then the error is a *RejectedError); the message names the field, or the reason, and why.
//   - domainerr.ErrNotFound: no such file (or chat) visible to the caller. Files others may not
//     see are reported exactly like files that do not exist.
//   - domainerr.ErrFailedPrecondition: the request is well formed but the state does not allow it
//     yet or any more (nothing uploaded yet; the caller may not send in that chat).
//   - domainerr.ErrResourceExhausted: the storage quota or the limit of pending uploads would be
//     exceeded.
//   - domainerr.ErrPermissionDenied: an internal method called without being a Parley service.
//   - domainerr.ErrUnavailable: a system the request depends on (the chat service) cannot be
//     reached; retrying later may succeed.

// RejectedError is CompleteUpload's answer for a file that failed a check: a
// domainerr.ErrInvalidArgument carrying the reason, which the rpc layer also attaches as an
// UploadRejection error detail.
type RejectedError struct {
	FileID    string
	Rejection Rejection
}

func (e *RejectedError) Error() string { return "upload rejected: " + e.Rejection.Message }

// Unwrap makes a rejection a domainerr.ErrInvalidArgument.
func (e *RejectedError) Unwrap() error { return domainerr.ErrInvalidArgument }

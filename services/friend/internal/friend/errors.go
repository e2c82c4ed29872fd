package friend

import "github.com/parleyhq/parley/platform/domainerr"

// Error kinds of the friend domain: the standard ones, named for what they mean here. Use cases
// return a *domainerr.Error of one of them with a message a person can act on; platform/server
// turns the kind into a Connect code.
var (
	// ErrInvalidArgument: a request field is malformed; the message names the field and why.
	ErrInvalidArgument = domainerr.ErrInvalidArgument
	// ErrNotFound: the user or the pending request named does not exist (for the caller).
	ErrNotFound = domainerr.ErrNotFound
	// ErrPermissionDenied: the caller is on the wrong side of a request, or asks about others.
	ErrPermissionDenied = domainerr.ErrPermissionDenied
	// ErrFailedPrecondition: the caller's own block stands in the way (unblock first).
	ErrFailedPrecondition = domainerr.ErrFailedPrecondition
	// ErrResourceExhausted: the caller sent too many requests recently.
	ErrResourceExhausted = domainerr.ErrResourceExhausted
)

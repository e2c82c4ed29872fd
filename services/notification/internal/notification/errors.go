package notification

import (
	"errors"

	"github.com/parleyhq/parley/platform/domainerr"
)

// Error kinds of the notification domain. Use cases return a *domainerr.Error of one of them with
// a message a person can act on; platform/server turns the standard kinds into Connect codes.
var (
	// ErrInvalidArgument: a request field is malformed; the message names the field and why.
	ErrInvalidArgument = domainerr.ErrInvalidArgument
	// ErrPermissionDenied: the caller may not do this (Notify without the internal secret).
	ErrPermissionDenied = domainerr.ErrPermissionDenied
	// ErrInvalidEvent: an event that cannot be applied whatever happens (malformed ids); the
	// consumer dead-letters it instead of retrying. It never reaches an RPC caller.
	ErrInvalidEvent = errors.New("invalid event")
)

package notification

import "errors"

// Use cases return a *domainerr.Error of a standard kind (platform/domainerr) with a message a
// person can act on; platform/server turns the kind into a Connect code. In the notification
// domain:
//
//   - domainerr.ErrInvalidArgument: a request field is malformed; the message names the field
//     and why.
//   - domainerr.ErrPermissionDenied: the caller may not do this (Notify without the internal
//     secret).
//   - domainerr.ErrFailedPrecondition: the push channel is asked for where it is not configured
//     (no VAPID key: ErrPushNotConfigured).
//   - domainerr.ErrNotFound: the user a call is about deleted their account (ErrUserDeleted).

// ErrInvalidEvent is the notification domain's own kind: an event that cannot be applied whatever
// happens (malformed ids); the consumer dead-letters it instead of retrying. It never reaches an
// RPC caller.
var ErrInvalidEvent = errors.New("invalid event")

package friend

import "github.com/parleyhq/parley/platform/domainerr"

// Use cases return a *domainerr.Error of a standard kind (platform/domainerr) with a message a
// person can act on; platform/server turns the kind into a Connect code. In the friend domain:
//
//   - domainerr.ErrInvalidArgument: a request field is malformed; the message names the field
//     and why.
//   - domainerr.ErrNotFound: the user or the pending request named does not exist (for the
//     caller).
//   - domainerr.ErrPermissionDenied: the caller is on the wrong side of a request, asks about
//     others, or calls with an access token of an account deleted since (ErrAccountDeleted).
//   - domainerr.ErrFailedPrecondition: the caller's own block stands in the way (unblock first).
//   - domainerr.ErrResourceExhausted: the caller sent too many requests recently.

// ErrAccountDeleted: a call made with an access token from before the caller's account was
// deleted (it stays valid until it expires): nothing is recorded for a deleted user.
var ErrAccountDeleted = domainerr.Errorf(domainerr.ErrPermissionDenied, "your account was deleted")

package friend

// Use cases return a *domainerr.Error of a standard kind (platform/domainerr) with a message a
// person can act on; platform/server turns the kind into a Connect code. In the friend domain:
//
//   - domainerr.ErrInvalidArgument: a request field is malformed; the message names the field
//     and why.
//   - domainerr.ErrNotFound: the user or the pending request named does not exist (for the
//     caller).
//   - domainerr.ErrPermissionDenied: the caller is on the wrong side of a request, or asks about
//     others.
//   - domainerr.ErrFailedPrecondition: the caller's own block stands in the way (unblock first).
//   - domainerr.ErrResourceExhausted: the caller sent too many requests recently.

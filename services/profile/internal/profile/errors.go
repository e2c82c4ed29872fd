package profile

import "github.com/parleyhq/parley/platform/domainerr"

// Use cases return a *domainerr.Error of a standard kind (platform/domainerr) with a message a
// person can act on; platform/server turns the kind into a Connect code. In the profile domain:
//
//   - domainerr.ErrInvalidArgument: a request field is malformed; the message names the field
//     and why.
//   - domainerr.ErrNotFound: the profile (or the file named for an avatar) does not exist.
//   - domainerr.ErrAlreadyExists: the nickname belongs to someone else.
//   - domainerr.ErrPermissionDenied: the caller may not use the thing named (another person's
//     file).
//   - domainerr.ErrFailedPrecondition: the thing named is not in a usable state yet (an upload
//     not completed).
//   - domainerr.ErrUnavailable: a system the request depends on (the media service, the cache on
//     a write) cannot be reached; retrying later may succeed.
//   - domainerr.ErrUnauthenticated: a service asked on the caller's behalf (the media service)
//     refused their access token, which expired between our check and theirs; the caller signs
//     in again.

// ErrNicknameTaken is returned when a nickname already belongs to someone else.
var ErrNicknameTaken = domainerr.Errorf(domainerr.ErrAlreadyExists, "nickname: already taken")

// ErrOwnProfileMissing is returned when the caller's own profile does not exist (yet): it is
// created from the UserRegistered event moments after registration.
var ErrOwnProfileMissing = domainerr.Errorf(domainerr.ErrNotFound, "your profile does not exist yet; it is created moments after registration, try again shortly")

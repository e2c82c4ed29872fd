package profile

import "github.com/parleyhq/parley/platform/domainerr"

// Error kinds of the profile domain: the standard ones, named for what they mean here. Use cases
// return a *domainerr.Error of one of them with a message a person can act on; platform/server
// turns the kind into a Connect code.
var (
	// ErrInvalidArgument: a request field is malformed; the message names the field and why.
	ErrInvalidArgument = domainerr.ErrInvalidArgument
	// ErrNotFound: the profile (or the file named for an avatar) does not exist.
	ErrNotFound = domainerr.ErrNotFound
	// ErrAlreadyExists: the nickname belongs to someone else.
	ErrAlreadyExists = domainerr.ErrAlreadyExists
	// ErrPermissionDenied: the caller may not use the thing named (another person's file).
	ErrPermissionDenied = domainerr.ErrPermissionDenied
	// ErrFailedPrecondition: the thing named is not in a usable state yet (an upload not completed).
	ErrFailedPrecondition = domainerr.ErrFailedPrecondition
	// ErrUnavailable: a system the request depends on (the media service, the cache on a write)
	// cannot be reached; retrying later may succeed.
	ErrUnavailable = domainerr.ErrUnavailable
	// ErrUnauthenticated: a service asked on the caller's behalf (the media service) refused their
	// access token, which expired between our check and theirs; the caller signs in again.
	ErrUnauthenticated = domainerr.ErrUnauthenticated
)

// ErrNicknameTaken is returned when a nickname already belongs to someone else.
var ErrNicknameTaken = domainerr.Errorf(ErrAlreadyExists, "nickname: already taken")

// ErrOwnProfileMissing is returned when the caller's own profile does not exist (yet): it is
// created from the UserRegistered event moments after registration.
var ErrOwnProfileMissing = domainerr.Errorf(ErrNotFound, "your profile does not exist yet; it is created moments after registration, try again shortly")

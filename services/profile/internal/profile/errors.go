package profile

import (
	"errors"
	"fmt"
)

// Sentinel errors of the profile domain. Use cases wrap them with a message a person can act on;
// only the rpc layer (profilerpc/errors.go) turns them into Connect codes.
var (
	// ErrInvalidArgument: a request field is malformed; the message names the field and why.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound: the profile (or the file named for an avatar) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: the nickname belongs to someone else.
	ErrAlreadyExists = errors.New("already exists")
	// ErrPermissionDenied: the caller may not use the thing named (another person's file).
	ErrPermissionDenied = errors.New("permission denied")
	// ErrFailedPrecondition: the thing named is not in a usable state yet (an upload not completed).
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrUnavailable: a system the request depends on (the media service, the cache on a write)
	// cannot be reached; retrying later may succeed.
	ErrUnavailable = errors.New("unavailable")
	// ErrUnauthenticated: a service asked on the caller's behalf (the media service) refused their
	// access token, which expired between our check and theirs; the caller signs in again.
	ErrUnauthenticated = errors.New("unauthenticated")
)

// Error is a domain error: Error() is the message for a person ("nickname: already taken"),
// errors.Is matches its sentinel kind.
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

// ErrNicknameTaken is returned when a nickname already belongs to someone else.
var ErrNicknameTaken = Errorf(ErrAlreadyExists, "nickname: already taken")

// ErrOwnProfileMissing is returned when the caller's own profile does not exist (yet): it is
// created from the UserRegistered event moments after registration.
var ErrOwnProfileMissing = Errorf(ErrNotFound, "your profile does not exist yet; it is created moments after registration, try again shortly")

package auth

import (
	"errors"

	"github.com/parleyhq/parley/platform/domainerr"
)

// Every error the domain returns to a caller is a *domainerr.Error of a standard kind
// (platform/domainerr) or of one of auth's own kinds below; platform/server maps the standard
// kinds to Connect codes and internal/authrpc the two of auth's own. Anything else is an internal
// failure. The standard kinds mean here:
//
//   - domainerr.ErrInvalidArgument: the request is malformed; the message names the field and
//     why.
//   - domainerr.ErrAlreadyExists: the thing to create exists (an email already registered).
//   - domainerr.ErrUnauthenticated: credentials or a refresh token were not accepted.
//   - domainerr.ErrNotFound: the named thing does not exist (an OAuth provider, an account).
//   - domainerr.ErrUnavailable: a system the request depends on (an OAuth provider) did not
//     answer.
//   - domainerr.ErrFailedPrecondition: the request cannot be carried out in the current state (an
//     OAuth flow that expired or whose identity cannot be linked).

// Error kinds of auth's own.
var (
	// ErrBusy: too many password hashes are queued; the caller should retry shortly.
	ErrBusy = errors.New("busy")
	// ErrTooManyAttempts: sign-in attempts for this account are throttled after failures; the
	// *domainerr.Error carries how long to wait (RetryAfter).
	ErrTooManyAttempts = errors.New("too many attempts")
)

// Errors returned by use cases; compare with errors.Is.
var (
	// ErrEmailTaken is returned by Register (and Store.CreateAccount) for a registered email.
	ErrEmailTaken = domainerr.Errorf(domainerr.ErrAlreadyExists, "email: already registered")
	// ErrBadCredentials is the one answer to a failed password login, whether the email is
	// unknown or the password wrong.
	ErrBadCredentials = domainerr.Errorf(domainerr.ErrUnauthenticated, "email or password is incorrect")
	// ErrAccountNotFound: the account named by a valid access token no longer exists.
	ErrAccountNotFound = domainerr.Errorf(domainerr.ErrNotFound, "account not found")
	// ErrNoSession: a use case that acts in the caller's current session (RevokeOtherSessions and
	// ChangePassword keep it, DeleteAccount may check its age) was given none. Every access token
	// auth issues names its session (sid), so no request should get it; the check keeps an empty
	// id from meaning "no session to keep", which would end the current one too.
	ErrNoSession = domainerr.Errorf(domainerr.ErrUnauthenticated, "the access token names no session; sign in again")
)

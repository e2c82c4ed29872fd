package auth

import (
	"errors"

	"github.com/parleyhq/parley/platform/domainerr"
)

// Error kinds of the auth domain. Every error the domain returns to a caller is a
// *domainerr.Error of one of them; platform/server maps the standard kinds to Connect codes and
// internal/authrpc the two of auth's own. Anything else is an internal failure.
var (
	// ErrInvalidArgument: the request is malformed; the message names the field and why.
	ErrInvalidArgument = domainerr.ErrInvalidArgument
	// ErrAlreadyExists: the thing to create exists (an email already registered).
	ErrAlreadyExists = domainerr.ErrAlreadyExists
	// ErrUnauthenticated: credentials or a refresh token were not accepted.
	ErrUnauthenticated = domainerr.ErrUnauthenticated
	// ErrNotFound: the named thing does not exist (an OAuth provider, an account).
	ErrNotFound = domainerr.ErrNotFound
	// ErrUnavailable: a system the request depends on (an OAuth provider) did not answer.
	ErrUnavailable = domainerr.ErrUnavailable
	// ErrFailedPrecondition: the request cannot be carried out in the current state (an OAuth
	// flow that expired or whose identity cannot be linked).
	ErrFailedPrecondition = domainerr.ErrFailedPrecondition

	// ErrBusy: too many password hashes are queued; the caller should retry shortly.
	ErrBusy = errors.New("busy")
	// ErrTooManyAttempts: sign-in attempts for this account are throttled after failures; the
	// *domainerr.Error carries how long to wait (RetryAfter).
	ErrTooManyAttempts = errors.New("too many attempts")
)

// Errors returned by use cases; compare with errors.Is.
var (
	// ErrEmailTaken is returned by Register (and Store.CreateAccount) for a registered email.
	ErrEmailTaken = domainerr.Errorf(ErrAlreadyExists, "email: already registered")
	// ErrBadCredentials is the one answer to a failed password login, whether the email is
	// unknown or the password wrong.
	ErrBadCredentials = domainerr.Errorf(ErrUnauthenticated, "email or password is incorrect")
	// ErrAccountNotFound: the account named by a valid access token no longer exists.
	ErrAccountNotFound = domainerr.Errorf(ErrNotFound, "account not found")
)

package auth

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/platform/domainerr"
)

// RevokeAccountDeleted: the session ended because its account was deleted (DeleteAccount).
const RevokeAccountDeleted = "account_deleted"

// ReauthWindow is how recently an account without a password must have signed in (the calling
// session's start) to be deleted: a fresh sign-in with its identity provider stands in for the
// password it does not have, so a stolen or forgotten-open session cannot delete the account.
const ReauthWindow = 5 * time.Minute

// AccountDeletion is an account deletion to store. In one transaction the store ends every live
// session (RevokeAccountDeleted, a SessionRevoked each), erases the account's credentials,
// identities, sessions, pending links and the throttle and budget rows keyed by its email or id,
// keeps only a tombstone (the id and when), and writes UserDeleted.
type AccountDeletion struct {
	UserID string
	At     time.Time
	// SecondFactor is the TOTP step or recovery code given, spent in the deletion's transaction
	// (zero for an account without two-factor authentication).
	SecondFactor SecondFactorProof
}

// Reauth is what DeleteAccount re-authenticates with: the password (for an account that has one)
// and, with two-factor authentication on, a current code or a recovery code.
type Reauth struct {
	Password, Code, RecoveryCode string
}

// DeleteStore is the persistence of DeleteAccount.
type DeleteStore interface {
	// SessionStart returns when the user's session sessionID began; an error wrapping
	// domainerr.ErrNotFound when the user has no such session.
	SessionStart(ctx context.Context, userID, sessionID string) (time.Time, error)
	// DeleteAccount stores d (see AccountDeletion); ErrAccountNotFound when the account does not
	// exist or was deleted already.
	DeleteAccount(ctx context.Context, d AccountDeletion) error
}

// Errors of DeleteAccount.
var (
	// ErrWrongPassword: DeleteAccount's password is not the account's password.
	ErrWrongPassword = domainerr.Errorf(domainerr.ErrInvalidArgument, "password: is not your current password")
	// ErrPasswordNotExpected: a password came for an account that has none.
	ErrPasswordNotExpected = domainerr.Errorf(domainerr.ErrInvalidArgument,
		"password: this account has no password (it signs in with an identity provider); leave it empty and sign in again within 5 minutes before deleting")
	// ErrReauthRequired: an account without a password was asked to be deleted from a session
	// that began more than ReauthWindow ago.
	ErrReauthRequired = domainerr.Errorf(domainerr.ErrFailedPrecondition,
		"sign in again first: an account without a password can be deleted within 5 minutes of signing in")
)

// DeleteAccount deletes the caller's account after re-authentication: re.Password is the
// account's current password (checked and throttled like ChangePassword's, from client); an account
// without a password must call from a session that began within ReauthWindow; an account with
// two-factor authentication on also gives a current code or a recovery code (throttled alike).
// Every session ends and UserDeleted is published, which every service acts on.
func (s *Service) DeleteAccount(ctx context.Context, userID, sessionID string, re Reauth, client string) error {
	if sessionID == "" {
		return ErrNoSession
	}
	acc, err := accountOf(s.store.AccountPassword(ctx, userID))
	if err != nil {
		return err
	}
	if acc.PasswordHash == "" {
		if err := s.freshSignIn(ctx, userID, sessionID, re.Password); err != nil {
			return err
		}
	} else if err := s.checkPassword(ctx, acc, re.Password, client, ErrWrongPassword); err != nil {
		return err
	}
	proof, err := s.deletionSecondFactor(ctx, userID, acc.Email, re, client)
	if err != nil {
		return err
	}
	err = s.store.DeleteAccount(ctx, AccountDeletion{UserID: userID, At: s.clock(), SecondFactor: proof})
	if err != nil {
		return asFieldError(wrap("delete account", err), re.Code)
	}
	s.logger.InfoContext(ctx, "account deleted", "user_id", userID)
	return nil
}

// deletionSecondFactor checks the code or recovery code of an account with two-factor
// authentication on (none is asked of the others): a password alone must not be enough to erase
// an account its owner protected with a second factor.
func (s *Service) deletionSecondFactor(ctx context.Context, userID, email string, re Reauth, client string) (SecondFactorProof, error) {
	if s.totpKey == nil {
		return SecondFactorProof{}, nil
	}
	cred, err := s.store.TOTPCredential(ctx, userID)
	if errors.Is(err, domainerr.ErrNotFound) || err == nil && !cred.Confirmed {
		return SecondFactorProof{}, nil
	}
	if err != nil {
		return SecondFactorProof{}, fmt.Errorf("load totp credential: %w", err)
	}
	if err := checkOneFactor(re.Code, re.RecoveryCode); err != nil {
		return SecondFactorProof{}, err
	}
	key := secondFactorKey(email, userID, client)
	if err := s.beginAttempt(ctx, key); err != nil {
		return SecondFactorProof{}, err
	}
	proof, err := s.checkSecondFactor(userID, cred, re.Code, re.RecoveryCode)
	if err != nil {
		return SecondFactorProof{}, asFieldError(err, re.Code)
	}
	return proof, s.succeedAttempt(ctx, key)
}

// freshSignIn is the re-authentication of an account without a password.
func (s *Service) freshSignIn(ctx context.Context, userID, sessionID, password string) error {
	if password != "" {
		return ErrPasswordNotExpected
	}
	started, err := s.store.SessionStart(ctx, userID, sessionID)
	if errors.Is(err, domainerr.ErrNotFound) {
		return domainerr.Errorf(domainerr.ErrUnauthenticated, "session ended: sign in again")
	}
	if err != nil {
		return fmt.Errorf("load session: %w", err)
	}
	if s.clock().Sub(started) > ReauthWindow {
		return ErrReauthRequired
	}
	return nil
}

// checkPassword re-authenticates an account with a password (ChangePassword, DeleteAccount):
// throttled as a login of the account's email from client, wrong is the answer to a wrong one. A
// success takes the attempt back, so that a change or deletion that then fails can be retried
// without a penalty.
func (s *Service) checkPassword(ctx context.Context, acc AccountPassword, password, client string, wrong error) error {
	if password == "" {
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "password: required")
	}
	if utf8.RuneCountInString(password) > MaxPasswordRunes {
		return wrong // no password can be this long
	}
	key := NewLoginKey(acc.Email, client)
	if err := s.beginAttempt(ctx, key); err != nil {
		return err
	}
	ok, _, err := s.hasher.Verify(ctx, password, acc.PasswordHash)
	if err != nil {
		return wrap("verify password", err)
	}
	if !ok {
		return wrong
	}
	return s.succeedAttempt(ctx, key)
}

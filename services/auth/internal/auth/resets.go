package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/platform/backoff"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/validate"
)

// RevokePasswordReset: every session ends when a password is reset by email.
const RevokePasswordReset = "password_reset"

// ResetPolicy bounds password resets by email.
type ResetPolicy struct {
	// TTL is how long an emailed link works.
	TTL time.Duration
	// PerEmail and PerClient are how many requests an email address (whether an account has it or
	// not) and a client network may make in each Window.
	PerEmail, PerClient int
	Window              time.Duration
}

// DefaultResetPolicy is what the service uses unless configured otherwise (docs/auth.md).
var DefaultResetPolicy = ResetPolicy{TTL: 30 * time.Minute, PerEmail: 3, PerClient: 20, Window: time.Hour}

// Validate reports settings that would make resets unusable or unbounded.
func (p ResetPolicy) Validate() error {
	var errs []error
	if p.TTL <= 0 {
		errs = append(errs, fmt.Errorf("password reset lifetime must be positive, got %s", p.TTL))
	}
	if p.PerEmail <= 0 || p.PerClient <= 0 {
		errs = append(errs, fmt.Errorf("password reset requests per email (%d) and per client (%d) must be positive", p.PerEmail, p.PerClient))
	}
	if p.Window <= 0 {
		errs = append(errs, fmt.Errorf("password reset window must be positive, got %s", p.Window))
	}
	return errors.Join(errs...)
}

// ResetRequest is one RequestPasswordReset to store. In one transaction the store charges the
// email's and the client's budgets (a refused request charges neither) and, when the request is
// allowed and an account has Email, ends the account's open resets and stores this one. It does
// the same statements whether or not an account has the email.
type ResetRequest struct {
	Email     string // normalised
	Client    string // the client's network key
	TokenHash []byte
	At        time.Time
	ExpiresAt time.Time
	Policy    ResetPolicy
}

// ResetOutcome is what storing a ResetRequest did.
type ResetOutcome struct {
	// Wait > 0: refused; the budget that ran out allows the next request after Wait.
	Wait time.Duration
	// UserID is the account the reset was stored for; "" when no account has the email.
	UserID string
}

// PasswordReset is a ResetPassword to store: when TokenHash still names an open, unexpired reset, the
// account's password becomes NewHash (a credential is created for an account that had none),
// every open reset of the account ends, every live session is revoked (RevokePasswordReset), and
// PasswordChanged is written, in one transaction.
type PasswordReset struct {
	TokenHash []byte
	NewHash   string
	At        time.Time
}

// ResetEmail is the email RequestPasswordReset asks the notification service to send.
type ResetEmail struct {
	// UserID is "" for an email no account has: the call is made anyway (and sends nothing), so
	// that both cases cost the same.
	UserID    string
	Email     string
	Token     string
	ExpiresAt time.Time
	// Key identifies this request (the token's hash, hex) so a retried call queues one email.
	Key string
}

// ResetMailer sends password-reset emails (the notification service).
type ResetMailer interface {
	SendPasswordReset(ctx context.Context, e ResetEmail) error
}

// Mailer sends the emails the auth service asks for: verification and password reset.
type Mailer interface {
	ResetMailer
	VerificationMailer
}

// ResetStore is the persistence of password resets.
type ResetStore interface {
	// RequestPasswordReset stores r (see ResetRequest).
	RequestPasswordReset(ctx context.Context, r ResetRequest) (ResetOutcome, error)
	// ResetTarget returns the email of the account whose open, unexpired reset tokenHash names;
	// ErrResetTokenInvalid when there is none.
	ResetTarget(ctx context.Context, tokenHash []byte, now time.Time) (email string, err error)
	// ResetPassword stores r (see PasswordReset); ErrResetTokenInvalid when the token is no
	// longer open and unexpired.
	ResetPassword(ctx context.Context, r PasswordReset) error
}

// Errors of password resets.
var (
	// ErrResetTokenInvalid: the reset token is unknown, used, replaced or expired.
	ErrResetTokenInvalid = domainerr.Errorf(domainerr.ErrUnauthenticated, "reset link is not valid any more (used, replaced by a newer one, or expired); request a new email")
)

// RequestPasswordReset emails a reset link to the account with email, from client (a network key,
// as Login's). It answers the same, in the same time, whether or not an account has the email: the
// same statements in one transaction, then the answer; the email is handed to the notification
// service afterwards, in the background (deliverReset), so neither its work nor an outage of it
// shows in the answer.
func (s *Service) RequestPasswordReset(ctx context.Context, email, client string) error {
	normalized, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	if s.mailer == nil {
		return domainerr.Errorf(domainerr.ErrFailedPrecondition, "password reset by email is not configured on this server")
	}
	token, hash := NewRefreshToken()
	now := s.clock()
	expires := now.Add(s.resetPolicy.TTL)
	out, err := s.store.RequestPasswordReset(ctx, ResetRequest{
		Email: normalized, Client: client, TokenHash: hash, At: now, ExpiresAt: expires, Policy: s.resetPolicy,
	})
	if err != nil {
		return fmt.Errorf("store password reset: %w", err)
	}
	if out.Wait > 0 {
		return retryAfter(domainerr.ErrResourceExhausted, "too many password reset requests", out.Wait)
	}
	if out.UserID != "" {
		s.deliverReset(ctx, ResetEmail{UserID: out.UserID, Email: normalized, Token: token, ExpiresAt: expires, Key: hex.EncodeToString(hash)})
	}
	return nil
}

// deliverReset hands a reset email to the mailer in the background, retrying with back-off while
// the notification service cannot take it, until the link would expire: an outage delays the
// email, it does not lose it. (A restart of this process in between does: the token exists only
// in memory until it is handed over, by design — the database keeps its hash alone. The person
// asks again.) Every attempt is logged without the token.
func (s *Service) deliverReset(ctx context.Context, mail ResetEmail) {
	ctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), mail.ExpiresAt)
	s.background.Go(func() {
		defer cancel()
		for attempt := 1; ; attempt++ {
			err := s.mailer.SendPasswordReset(ctx, mail)
			if err == nil {
				return
			}
			s.logger.WarnContext(ctx, "password reset email not queued yet; will retry", "user", mail.UserID, "attempt", attempt, "error", err)
			if !backoff.Sleep(ctx, backoff.Delay(time.Second, time.Minute, attempt)) {
				s.logger.ErrorContext(ctx, "password reset email given up: the link expired before the notification service took it", "user", mail.UserID)
				return
			}
		}
	})
}

// WaitBackground waits for the emails being handed over in the background (tests; shutdown).
func (s *Service) WaitBackground() { s.background.Wait() }

// ResetPassword sets a new password with an emailed reset token and ends every session of the
// account. The new password follows Register's rules for the account's email.
func (s *Service) ResetPassword(ctx context.Context, token, next string) error {
	var tokenErr error
	if token == "" {
		tokenErr = domainerr.Errorf(domainerr.ErrInvalidArgument, "reset_token: required")
	}
	nextErr := renameField(ValidatePassword(next), "password", "new_password")
	if err := validate.Join(tokenErr, nextErr); err != nil {
		return err
	}
	if !wellFormedRefreshToken(token) {
		return ErrResetTokenInvalid
	}
	tokenHash := HashRefreshToken(token)
	// The token is checked before the costly hash, so made-up tokens cost no hashing.
	email, err := s.store.ResetTarget(ctx, tokenHash, s.clock())
	if err != nil {
		return wrap("find password reset", err)
	}
	if err := renameField(ValidateNewPassword(next, email, ""), "password", "new_password"); err != nil {
		return err
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return wrap("hash password", err)
	}
	if err := s.store.ResetPassword(ctx, PasswordReset{TokenHash: tokenHash, NewHash: hash, At: s.clock()}); err != nil {
		return wrap("reset password", err)
	}
	return nil
}

// ResetEmailKey is the budget key of a normalised email: its SHA-256, so the table holds no
// addresses and the same budget applies whether or not an account has it.
func ResetEmailKey(email string) string {
	sum := sha256.Sum256([]byte(email))
	return "email:" + hex.EncodeToString(sum[:])
}

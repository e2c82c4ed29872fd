package auth

import (
	"context"
	"encoding/hex"
	"time"

	"github.com/parleyhq/parley/platform/domainerr"
)

// VerificationTTL is how long an emailed verification link works: long enough for someone who
// signs up on a Friday to confirm on Monday.
const VerificationTTL = 48 * time.Hour

// Verification emails per account: ResendVerificationEmail sends at most VerificationResends an
// hour and VerificationResendsPerDay a day, so an address someone else signed up with gets a
// bounded number of them.
const (
	VerificationResends       = 3
	VerificationResendWindow  = time.Hour
	VerificationResendsPerDay = 10
)

// Budget is a limit on requests under Key: at most Limit in each fixed Window.
type Budget struct {
	Key    string
	Limit  int
	Window time.Duration
}

// NewVerification is a verification link to store: its token's hash, for the address it is sent to.
type NewVerification struct {
	UserID    string
	Email     string
	TokenHash []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// VerificationEmail is the email that asks the owner of a new address to confirm it.
type VerificationEmail struct {
	UserID    string
	Email     string
	Token     string
	ExpiresAt time.Time
	// Key identifies this verification (the token's hash, hex) so a retried call queues one email.
	Key string
}

// Verified is what VerifyEmail confirmed.
type Verified struct {
	UserID string
	Email  string
}

// VerificationStore is the persistence of email verification.
type VerificationStore interface {
	// ReplaceVerification ends the user's open verification links and stores v for the account's
	// email (v.Email is not read), after charging every budget (a refused request charges none and
	// reports the longest wait), and returns that email. It returns ErrAccountNotFound when there
	// is no such account, ErrEmailAlreadyVerified when its email is verified and ErrNoEmail when
	// it has none.
	ReplaceVerification(ctx context.Context, v NewVerification, budgets []Budget) (email string, wait time.Duration, err error)
	// VerifyEmail uses the open, unexpired link tokenHash names, if the account still has the
	// address it was sent to: the link ends, the account's email is marked verified (if it was
	// not) and EmailVerified is written, in one transaction. ErrVerificationInvalid otherwise.
	VerifyEmail(ctx context.Context, tokenHash []byte, now time.Time) (Verified, error)
}

// VerificationMailer sends verification emails (the notification service).
type VerificationMailer interface {
	SendEmailVerification(ctx context.Context, e VerificationEmail) error
}

// Errors of email verification.
var (
	// ErrVerificationInvalid: the link is unknown, used, replaced, expired, or for an address the
	// account no longer has.
	ErrVerificationInvalid = domainerr.Errorf(domainerr.ErrUnauthenticated, "verification link is not valid any more (used, replaced by a newer one, or expired); sign in and ask for a new email")
	// ErrEmailAlreadyVerified: ResendVerificationEmail for a verified address.
	ErrEmailAlreadyVerified = domainerr.Errorf(domainerr.ErrFailedPrecondition, "email: already verified")
	// ErrNoEmail: the account has no email address to verify (created through a provider that gave none).
	ErrNoEmail = domainerr.Errorf(domainerr.ErrFailedPrecondition, "email: this account has no email address")
)

// newVerification makes a verification link for userID's email and its token.
func (s *Service) newVerification(userID, email string, now time.Time) (NewVerification, string) {
	token, hash := NewRefreshToken()
	return NewVerification{UserID: userID, Email: email, TokenHash: hash, CreatedAt: now, ExpiresAt: now.Add(VerificationTTL)}, token
}

// mailVerification hands a stored verification link, whose token is token, to the mailer.
func (s *Service) mailVerification(ctx context.Context, v NewVerification, token string) error {
	return s.mailer.SendEmailVerification(ctx, VerificationEmail{
		UserID: v.UserID, Email: v.Email, Token: token, ExpiresAt: v.ExpiresAt, Key: hex.EncodeToString(v.TokenHash),
	})
}

// sendVerification mails the first verification link of a new account. A failure is logged, not
// returned: the account exists and works, and its owner can ask for the email again
// (ResendVerificationEmail).
func (s *Service) sendVerification(ctx context.Context, v NewVerification, token string) {
	if s.mailer == nil {
		s.logger.WarnContext(ctx, "verification email not sent: no mailer configured (INTERNAL_API_TOKEN unset)", "user", v.UserID)
		return
	}
	if err := s.mailVerification(ctx, v, token); err != nil {
		s.logger.WarnContext(ctx, "verification email not queued; the user can ask again", "user", v.UserID, "error", err) // never the token
	}
}

// VerifyEmail confirms an account's email with the token of a verification link.
func (s *Service) VerifyEmail(ctx context.Context, token string) (Verified, error) {
	if token == "" {
		return Verified{}, domainerr.Errorf(domainerr.ErrInvalidArgument, "verification_token: required")
	}
	if !wellFormedRefreshToken(token) {
		return Verified{}, ErrVerificationInvalid
	}
	v, err := s.store.VerifyEmail(ctx, HashRefreshToken(token), s.clock())
	if err != nil {
		return Verified{}, wrap("verify email", err)
	}
	return v, nil
}

// ResendVerificationEmail sends the caller a new verification link (earlier ones stop working),
// at most VerificationResends an hour.
func (s *Service) ResendVerificationEmail(ctx context.Context, userID string) error {
	if s.mailer == nil {
		return domainerr.Errorf(domainerr.ErrFailedPrecondition, "verification emails are not configured on this server")
	}
	v, token := s.newVerification(userID, "", s.clock())
	email, wait, err := s.store.ReplaceVerification(ctx, v, VerificationBudgets(userID))
	if err != nil {
		return wrap("store verification", err)
	}
	if wait > 0 {
		return retryAfter(domainerr.ErrResourceExhausted, "too many verification emails", wait)
	}
	v.Email = email
	if err := s.mailVerification(ctx, v, token); err != nil {
		s.logger.WarnContext(ctx, "verification email not queued", "user", userID, "error", err)
		return domainerr.Errorf(domainerr.ErrUnavailable, "the verification email could not be sent just now; try again in a minute")
	}
	return nil
}

// VerificationBudgets are the email budgets ResendVerificationEmail spends for userID: an hour's
// and a day's. Keyed by the user's id, they go with the account (authdb's DeleteAccount).
func VerificationBudgets(userID string) []Budget {
	return []Budget{
		{Key: "verify:" + userID, Limit: VerificationResends, Window: VerificationResendWindow},
		{Key: "verify-day:" + userID, Limit: VerificationResendsPerDay, Window: 24 * time.Hour},
	}
}

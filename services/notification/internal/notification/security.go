package notification

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/parleyhq/parley/platform/validate"
)

// PasswordChange is a PasswordChanged event: the account, when, how (Reset: by an emailed link,
// every session ended; otherwise ChangePassword from a session that stays signed in) and the
// account's address as auth holds it.
type PasswordChange struct {
	UserID, EventID, Email string
	At                     time.Time
	Reset                  bool
}

// PasswordChanged emails the owner of an account whose password was just changed or reset. It is
// a security notice: it goes to the account's address whether or not it was verified and whatever
// the person's email preferences — its point is to reach someone who did not make the change — and
// raises nothing in the app. EventID makes a redelivered event queue no second email.
func (s *Service) PasswordChanged(ctx context.Context, tx Tx, c PasswordChange) error {
	if err := eventIDs(idField{"user_id", &c.UserID}); err != nil {
		return err
	}
	if locked, err := lockUnlessDeleted(ctx, tx, []string{c.UserID}, c.UserID); err != nil || !locked {
		return err
	}
	now := s.now()
	if c.At.IsZero() {
		c.At = now
	}
	to, err := tx.Recipient(ctx, c.UserID)
	if err != nil {
		return err
	}
	if c.Email != "" {
		to.Email = c.Email // the address auth holds, verified or not
	}
	if to.Email == "" {
		s.logger.DebugContext(ctx, "no email address known; password notice not sent", slog.String("user", c.UserID))
		return nil
	}
	content, err := s.emails.PasswordChanged(to, c.At, c.Reset)
	if err != nil {
		return err
	}
	_, err = s.queueEmail(ctx, tx, to, KindSystem, "password_changed:"+c.EventID, content, now)
	return err
}

// TokenEmail is one email whose link carries a single-use token: a password reset
// (SendPasswordReset) or an address to confirm (SendEmailVerification).
type TokenEmail struct {
	UserID, Email, Token, IdempotencyKey string
	ExpiresAt                            time.Time
}

// SendPasswordReset queues the password-reset email with its link to r.Email, the address auth
// holds for the account. An empty UserID is a request about an email no account has: nothing is
// queued (auth calls either way so both cost it the same). A repeated IdempotencyKey queues
// nothing more. The token goes only into the email; it is never logged.
func (s *Service) SendPasswordReset(ctx context.Context, r TokenEmail) error {
	if r.UserID == "" {
		return nil
	}
	return s.queueTokenEmail(ctx, r, "reset_token", "password_reset:", s.emails.PasswordReset)
}

// SendEmailVerification queues the email asking the owner of r.Email to confirm it. It goes out
// although the address is not verified — that is its point — and only to that address.
func (s *Service) SendEmailVerification(ctx context.Context, r TokenEmail) error {
	return s.queueTokenEmail(ctx, r, "verification_token", "email_verification:", s.emails.EmailVerification)
}

// queueTokenEmail checks r (tokenField names its token in messages) and queues the email render
// makes, once per IdempotencyKey.
func (s *Service) queueTokenEmail(ctx context.Context, r TokenEmail, tokenField, keyPrefix string,
	render func(to Recipient, token string, expires time.Time) (EmailContent, error)) error {
	var p validate.Problems
	userID, err := validate.UUID("user_id", r.UserID)
	p.Add(err)
	if !strings.Contains(r.Email, "@") || len(r.Email) > 254 {
		p.Addf("email: must be an email address")
	}
	if n := len(r.Token); n < 16 || n > 128 || strings.IndexFunc(r.Token, notURLSafe) >= 0 {
		p.Addf("%s: must be 16 to 128 URL-safe characters", tokenField)
	}
	if r.ExpiresAt.IsZero() {
		p.Addf("expires_at: required")
	}
	if n := len(r.IdempotencyKey); n < 1 || n > 128 {
		p.Addf("idempotency_key: must be 1 to 128 characters")
	}
	if err := p.Err(); err != nil {
		return err
	}
	now := s.now()
	return s.store.InTx(ctx, func(tx Tx) error {
		if err := tx.LockRecipients(ctx, userID); err != nil {
			return err
		}
		known, err := tx.Recipient(ctx, userID)
		if err != nil {
			return err
		}
		to := Recipient{UserID: userID, Email: r.Email, Nickname: known.Nickname}
		c, err := render(to, r.Token, r.ExpiresAt)
		if err != nil {
			return err
		}
		_, err = s.queueEmail(ctx, tx, to, KindSystem, keyPrefix+r.IdempotencyKey, c, now)
		return err
	})
}

// notURLSafe reports a rune outside base64url's alphabet.
func notURLSafe(r rune) bool {
	urlSafe := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
	return !urlSafe
}

package notification

import (
	"context"
	"strings"
	"time"

	"github.com/parleyhq/parley/platform/domainerr"
)

// PasswordChanged emails the owner of an account whose password was just changed
// (PasswordChanged). It is a security notice: it goes out whatever the person's email
// preferences, because its point is to reach someone who did not make the change; it raises no
// notification in the app, where whoever changed the password is signed in. eventID makes a
// redelivered event queue no second email.
func (s *Service) PasswordChanged(ctx context.Context, tx Tx, userID, eventID string, changedAt time.Time) error {
	if err := eventIDs(idField{"user_id", &userID}); err != nil {
		return err
	}
	if err := tx.LockRecipients(ctx, userID); err != nil {
		return err
	}
	if changedAt.IsZero() {
		changedAt = s.now()
	}
	return s.emailRecipient(ctx, tx, userID, KindSystem, "password_changed:"+eventID, s.now(),
		func(to Recipient) (EmailContent, error) { return s.emails.PasswordChanged(to, changedAt) })
}

// PasswordResetEmail is one password-reset email to queue (SendPasswordReset).
type PasswordResetEmail struct {
	UserID, Email, Token, IdempotencyKey string
	ExpiresAt                            time.Time
}

// SendPasswordReset queues the password-reset email with its link to r.Email, the address auth
// holds for the account. An empty UserID is a request about an email no account has: nothing is
// queued (auth calls either way so both cost it the same). A repeated IdempotencyKey queues
// nothing more. The token goes only into the email; it is never logged.
func (s *Service) SendPasswordReset(ctx context.Context, r PasswordResetEmail) error {
	if r.UserID == "" {
		return nil
	}
	var errs []string
	if err := eventIDs(idField{"user_id", &r.UserID}); err != nil {
		errs = append(errs, err.Error())
	}
	if !strings.Contains(r.Email, "@") || len(r.Email) > 254 {
		errs = append(errs, "email: must be an email address")
	}
	if n := len(r.Token); n < 16 || n > 128 || strings.IndexFunc(r.Token, notURLSafe) >= 0 {
		errs = append(errs, "reset_token: must be 16 to 128 URL-safe characters")
	}
	if r.ExpiresAt.IsZero() {
		errs = append(errs, "expires_at: required")
	}
	if n := len(r.IdempotencyKey); n < 1 || n > 128 {
		errs = append(errs, "idempotency_key: must be 1 to 128 characters")
	}
	if len(errs) > 0 {
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "%s", strings.Join(errs, "; "))
	}
	now := s.now()
	return s.store.InTx(ctx, func(tx Tx) error {
		if err := tx.LockRecipients(ctx, r.UserID); err != nil {
			return err
		}
		known, err := tx.Recipient(ctx, r.UserID)
		if err != nil {
			return err
		}
		to := Recipient{UserID: r.UserID, Email: r.Email, Nickname: known.Nickname}
		c, err := s.emails.PasswordReset(to, r.Token, r.ExpiresAt)
		if err != nil {
			return err
		}
		_, err = s.queueEmail(ctx, tx, to, KindSystem, "password_reset:"+r.IdempotencyKey, c, now)
		return err
	})
}

// notURLSafe reports a rune outside base64url's alphabet.
func notURLSafe(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
}

package notification

import (
	"context"
	"time"
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

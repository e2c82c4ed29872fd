package mailer

import (
	"context"
	"fmt"
	"net/mail"

	"github.com/parleyhq/parley/services/notification/internal/notification"
)

// Notifications sends the notification service's queued emails through a Sender: it implements
// notification.Mailer.
type Notifications struct {
	Sender *Sender
	From   mail.Address
}

var _ notification.Mailer = (*Notifications)(nil)

// Send composes e and sends it. Refusals the server means for good wrap notification.ErrRejected.
func (n *Notifications) Send(ctx context.Context, e notification.Email) error {
	if err := envelopeAddress(e.To); err != nil {
		return fmt.Errorf("%w: %w", notification.ErrRejected, err)
	}
	msg, err := Compose(Message{
		From: n.From, To: mail.Address{Name: e.ToName, Address: e.To}, Subject: e.Subject,
		MessageID: e.MessageID, Date: e.CreatedAt, Text: e.Text, HTML: e.HTML,
	})
	if err != nil {
		return fmt.Errorf("%w: %w", notification.ErrRejected, err)
	}
	if err := n.Sender.Send(ctx, n.From.Address, []string{e.To}, msg); err != nil {
		if IsPermanent(err) {
			return fmt.Errorf("%w: %w", notification.ErrRejected, err)
		}
		return err
	}
	return nil
}

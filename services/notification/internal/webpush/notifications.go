package webpush

import (
	"context"
	"errors"
	"fmt"

	"github.com/parleyhq/parley/services/notification/internal/notification"
)

// Notifications sends the notification service's queued pushes through a Sender: it implements
// notification.Pusher, translating the push service's answers into the domain's outcomes.
type Notifications struct {
	Sender *Sender
}

var _ notification.Pusher = (*Notifications)(nil)

// PublicKey implements notification.Pusher.
func (n *Notifications) PublicKey() string { return n.Sender.PublicKey() }

// CheckEndpoint implements notification.Pusher.
func (n *Notifications) CheckEndpoint(ctx context.Context, endpoint string) error {
	return n.Sender.CheckEndpoint(ctx, endpoint)
}

// Push implements notification.Pusher.
func (n *Notifications) Push(ctx context.Context, m notification.PushMessage) error {
	err := n.Sender.Send(ctx, Message{Endpoint: m.Endpoint, P256dh: m.P256dh, Auth: m.Auth, Payload: m.Payload,
		TTL: m.TTL, Urgency: m.Urgency, Topic: m.Topic})
	var busy *RetryAfterError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrGone):
		return fmt.Errorf("%w: %w", notification.ErrPushGone, err)
	case errors.Is(err, ErrRejected):
		return fmt.Errorf("%w: %w", notification.ErrPushRejected, err)
	case errors.As(err, &busy):
		return &notification.PushRetryAfter{After: busy.After}
	}
	return err
}

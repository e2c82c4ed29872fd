// Package notificationevents consumes the events the notification service reacts to:
// UserRegistered and EmailVerified (parley.auth.v1) and ProfileUpdated (parley.profile.v1) keep
// each person's verified email address and nickname, SessionRevoked (parley.auth.v1) removes the
// push subscriptions the ended session registered, and UserDeleted (parley.auth.v1) erases
// everything about a deleted account; PasswordChanged (parley.auth.v1) sends the owner a security notice; FriendRequestSent, FriendAccepted and FriendDeclined (parley.friend.v1)
// and MessageSent, MessagesRead, MessageEdited and MessageDeleted (parley.chat.v1) raise, clear and
// batch notifications. Handlers run inside platform/events' inbox transaction, so a redelivered
// event has no second effect; an event with malformed ids is dead-lettered at once.
package notificationevents

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/services/notification/internal/notification"
)

// Group is the notification service's consumer group.
const Group = "notification"

// Topics are the topics the group reads.
var Topics = []string{topics.Auth, topics.Profile, topics.Friend, topics.Chat}

// TxStore runs a use case with the store inside the consumer's transaction (notificationdb.Store
// implements it), sending what the use case wrote before the consumer commits.
type TxStore interface {
	WithTx(ctx context.Context, tx pgx.Tx, fn func(notification.Tx) error) error
}

// Register adds the notification service's handlers to c.
func Register(c *events.Consumer, svc *notification.Service, store TxStore) {
	handle(c, store, func(ctx context.Context, t notification.Tx, _ events.Event, m *eventsv1.UserRegistered) error {
		return svc.Registered(ctx, t, m.GetUserId(), m.GetEmail(), m.GetNickname(), m.GetEmailVerified())
	})
	handle(c, store, func(ctx context.Context, t notification.Tx, _ events.Event, m *eventsv1.EmailVerified) error {
		return svc.EmailVerified(ctx, t, m.GetUserId(), m.GetEmail())
	})
	handle(c, store, func(ctx context.Context, t notification.Tx, ev events.Event, m *eventsv1.PasswordChanged) error {
		return svc.PasswordChanged(ctx, t, notification.PasswordChange{UserID: m.GetUserId(), EventID: ev.ID, Email: m.GetEmail(),
			Reset: m.GetReason() == "password_reset", At: ev.TimeOr(m.GetChangedAt())})
	})
	handle(c, store, func(ctx context.Context, t notification.Tx, _ events.Event, m *eventsv1.ProfileUpdated) error {
		return svc.ProfileUpdated(ctx, t, m.GetUserId(), m.GetNickname(), m.GetVersion())
	})
	handle(c, store, func(ctx context.Context, t notification.Tx, _ events.Event, m *eventsv1.FriendRequestSent) error {
		return svc.FriendRequestSent(ctx, t, notification.FriendRequest{
			RequestID: m.GetRequestId(), FromUserID: m.GetFromUserId(), ToUserID: m.GetToUserId(), FromNickname: m.GetFromNickname(),
		})
	})
	handle(c, store, func(ctx context.Context, t notification.Tx, _ events.Event, m *eventsv1.FriendAccepted) error {
		return svc.FriendAccepted(ctx, t, notification.FriendAcceptance{
			RequestID: m.GetRequestId(), RequesterID: m.GetRequesterId(), AccepterID: m.GetAccepterId(), AccepterNickname: m.GetAccepterNickname(),
		})
	})
	handle(c, store, func(ctx context.Context, t notification.Tx, _ events.Event, m *eventsv1.FriendDeclined) error {
		return svc.FriendDeclined(ctx, t, m.GetRequestId(), m.GetRecipientId())
	})
	handle(c, store, func(ctx context.Context, t notification.Tx, _ events.Event, m *eventsv1.MessageSent) error {
		msg := notification.Message{
			ChatID: m.GetChatId(), MessageID: m.GetMessageId(), Seq: m.GetSeq(), SenderID: m.GetSenderId(),
			RecipientID: m.GetRecipientId(), Text: m.GetText(),
		}
		if m.GetSentAt() != nil {
			msg.SentAt = m.GetSentAt().AsTime()
		}
		for _, a := range m.GetAttachments() {
			msg.Attachments = append(msg.Attachments, a.GetName())
		}
		return svc.MessageSent(ctx, t, msg)
	})
	handle(c, store, func(ctx context.Context, t notification.Tx, _ events.Event, m *eventsv1.MessagesRead) error {
		return svc.MessagesRead(ctx, t, m.GetChatId(), m.GetReaderId(), m.GetUpToSeq())
	})
	handle(c, store, func(ctx context.Context, t notification.Tx, _ events.Event, m *eventsv1.MessageEdited) error {
		return svc.MessageEdited(ctx, t, m.GetChatId(), m.GetRecipientId(), m.GetSeq(), m.GetText())
	})
	handle(c, store, func(ctx context.Context, t notification.Tx, _ events.Event, m *eventsv1.MessageDeleted) error {
		return svc.MessageDeleted(ctx, t, m.GetChatId(), m.GetRecipientId(), m.GetSeq())
	})
	handle(c, store, func(ctx context.Context, t notification.Tx, _ events.Event, m *eventsv1.SessionRevoked) error {
		return svc.SessionRevoked(ctx, t, m.GetUserId(), m.GetSessionId())
	})
	handle(c, store, func(ctx context.Context, t notification.Tx, ev events.Event, m *eventsv1.UserDeleted) error {
		return svc.UserDeleted(ctx, t, m.GetUserId(), ev.TimeOr(m.GetDeletedAt()))
	})
}

// handle registers h for the events of type T: it runs with the store inside the consumer's
// transaction, and an event it finds invalid (notification.ErrInvalidEvent) is dead-lettered at
// once, as no retry can make it valid.
func handle[T proto.Message](c *events.Consumer, store TxStore, h func(ctx context.Context, t notification.Tx, ev events.Event, m T) error) {
	events.On(c, func(ctx context.Context, tx pgx.Tx, ev events.Event, m T) error {
		err := store.WithTx(ctx, tx, func(t notification.Tx) error { return h(ctx, t, ev, m) })
		if errors.Is(err, notification.ErrInvalidEvent) {
			return events.Permanent(fmt.Errorf("%s %s: %w", ev.Type, ev.ID, err))
		}
		return err
	})
}

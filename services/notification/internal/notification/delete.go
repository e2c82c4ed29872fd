package notification

import (
	"context"
	"time"

	"github.com/parleyhq/parley/platform/domainerr"
)

// ErrUserDeleted: Notify was asked to notify a user whose account was deleted.
var ErrUserDeleted = domainerr.Errorf(domainerr.ErrNotFound, "user_id: that account was deleted")

// UserDeleted erases what the service holds about a user whose account was deleted: their
// address and nickname (the recipients row) and preferences, mutes, notifications, Notify keys,
// digests, email deliveries (pending and sent records alike), push subscriptions and pushes; and,
// in other people's notifications, digests and pushes, what stands for them: notifications and
// pushes they caused (a friend request of theirs, their message) and their messages waiting for a
// digest email. It keeps a tombstone (the
// id and when), so events about the user handled later — they come on other topics, in no order
// with the deletion — change nothing: every handler that would store something for or about a user
// asks AnyDeleted first. Other people's unread counts drop without a NotificationSent; their
// clients see the new count at their next read.
func (s *Service) UserDeleted(ctx context.Context, tx Tx, userID string, at time.Time) error {
	if err := eventIDs(idField{"user_id", &userID}); err != nil {
		return err
	}
	if at.IsZero() {
		at = s.now()
	}
	// DeleteUser takes the user's lock, as every change to their notifications does first.
	return tx.DeleteUser(ctx, userID, at)
}

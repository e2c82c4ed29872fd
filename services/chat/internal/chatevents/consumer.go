// Package chatevents consumes the events the chat service reacts to, in consumer group "chat":
//
//   - FriendAccepted (parley.friend.v1): the pair's chat is created, or reopened, with can_send true;
//   - FriendRemoved (parley.friend.v1, reason "removed" or "blocked", treated alike so a blocked
//     user learns nothing): the chat keeps its history but can_send becomes false (created that
//     way if it was missing, so a late or replayed FriendAccepted-less history still has a chat);
//   - ProfileUpdated (parley.profile.v1): the peer nickname and avatar (file id and the media
//     service's thumbnail URL, as the event carries it) shown by ListChats and GetChat;
//   - UserDeleted (parley.auth.v1): the user's messages become tombstones in their peers'
//     histories (seq kept, so each stays gap-free), their chats close and their profile copy
//     goes; later events about them change nothing (chatdb.Store.DeleteUser).
//
// Handlers run inside platform/events' inbox transaction, so a redelivered event has no second
// effect. Friend events also drop the pair's cached CheckFriendship answer.
package chatevents

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/validate"
	"github.com/parleyhq/parley/services/chat/internal/chat"
	"github.com/parleyhq/parley/services/chat/internal/chatdb"
)

// Group is the chat service's consumer group.
const Group = "chat"

// Topics are the topics the group reads.
var Topics = []string{topics.Friend, topics.Profile, topics.Auth}

// Store applies the events inside the consumer's transaction (chatdb.Store implements it).
type Store interface {
	SetFriendship(ctx context.Context, tx pgx.Tx, a, b string, friends bool) (created bool, err error)
	UpsertPeer(ctx context.Context, tx pgx.Tx, p chatdb.PeerProfile) (bool, error)
	DeleteUser(ctx context.Context, tx pgx.Tx, userID string, at time.Time) (int64, error)
}

// Invalidator drops a pair's cached friendship answer (chatcache implements it).
type Invalidator interface {
	Invalidate(ctx context.Context, a, b string) error
}

// Register adds the chat service's handlers to c.
func Register(c *events.Consumer, store Store, cache Invalidator, logger *slog.Logger) {
	setFriendship := func(ctx context.Context, tx pgx.Tx, ev events.Event, rawA, rawB string, friends bool) error {
		a, errA := validate.UUID("user", rawA)
		b, errB := validate.UUID("user", rawB)
		if errA != nil || errB != nil || a == b {
			return events.Permanent(fmt.Errorf("%s %s: needs two different user ids, got %q and %q", ev.Type, ev.ID, rawA, rawB))
		}
		created, err := store.SetFriendship(ctx, tx, a, b, friends)
		if err != nil {
			return err
		}
		// The chat row, not this cache entry, is what sends are checked against from now on (see
		// chat.Service.areFriends), so a failure here is logged, not retried.
		if err := cache.Invalidate(ctx, a, b); err != nil {
			logger.WarnContext(ctx, "drop cached friendship", slog.String("event_id", ev.ID), slog.Any("error", err))
		}
		logger.InfoContext(ctx, "friendship applied", slog.String("chat", chat.ChatID(a, b)),
			slog.Bool("can_send", friends), slog.Bool("chat_created", created), slog.String("event_id", ev.ID))
		return nil
	}
	events.On(c, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *eventsv1.FriendAccepted) error {
		return setFriendship(ctx, tx, ev, msg.GetRequesterId(), msg.GetAccepterId(), true)
	})
	events.On(c, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *eventsv1.FriendRemoved) error {
		return setFriendship(ctx, tx, ev, msg.GetUserId(), msg.GetFriendUserId(), false)
	})
	events.OnUser(c, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *eventsv1.ProfileUpdated, id string) error {
		// Keep the nickname change whatever the avatar fields say; show nothing that is not an
		// avatar's file id and an http(s) URL.
		avatar, thumb, dropped := validate.FileLink(msg.GetAvatarFileId(), msg.GetAvatarThumbnailUrl())
		if dropped != "" {
			logger.WarnContext(ctx, "ProfileUpdated with a malformed avatar; applying the rest",
				slog.String("event_id", ev.ID), slog.String("user", id), slog.String("dropped", dropped))
		}
		p := chatdb.PeerProfile{UserID: id, Nickname: msg.GetNickname(), AvatarFileID: avatar, AvatarThumbnailURL: thumb,
			Version: msg.GetVersion(), UpdatedAt: ev.Time}
		if msg.GetUpdatedAt() != nil {
			p.UpdatedAt = msg.GetUpdatedAt().AsTime()
		}
		if _, err := store.UpsertPeer(ctx, tx, p); err != nil {
			return err
		}
		return nil
	})
	events.OnUser(c, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *eventsv1.UserDeleted, id string) error {
		n, err := store.DeleteUser(ctx, tx, id, ev.TimeOr(msg.GetDeletedAt()))
		if err != nil {
			return err
		}
		logger.InfoContext(ctx, "user deleted", slog.String("user", id), slog.Int64("messages_tombstoned", n), slog.String("event_id", ev.ID))
		return nil
	})
}

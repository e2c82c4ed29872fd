// Package friendevents consumes the events the friend service keeps its copy of users from:
// UserRegistered (topic parley.auth.v1) introduces a user and the nickname asked for, and
// ProfileUpdated (topic parley.profile.v1) sets their nickname and avatar (file id and the media
// service's thumbnail URL, as the event carries it), keeping only the highest profile version;
// UserDeleted (parley.auth.v1) erases the user's friendships, requests and blocks for good. Handlers
// run inside platform/events' inbox transaction, so a redelivered event has no second effect.
package friendevents

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/validate"
	"github.com/parleyhq/parley/services/friend/internal/friend"
)

// Group is the friend service's consumer group.
const Group = "friend"

// Topics are the topics the group reads.
var Topics = []string{topics.Auth, topics.Profile}

// Directory keeps the users the service knows, inside the consumer's transaction
// (frienddb.Store implements it).
type Directory interface {
	// RecordRegistration records a new user; the nickname is kept until a profile version says
	// otherwise.
	RecordRegistration(ctx context.Context, tx pgx.Tx, userID, nickname string) error
	// ApplyProfile stores a profile version unless one at least as new is stored; applied says
	// whether it was.
	ApplyProfile(ctx context.Context, tx pgx.Tx, c friend.ProfileChange) (applied bool, err error)
	// DeleteUser erases a deleted user's friendships, requests, blocks and row, and keeps the
	// tombstone that makes RecordRegistration and ApplyProfile ignore them from then on.
	DeleteUser(ctx context.Context, tx pgx.Tx, userID string, at time.Time) error
}

// Register adds the friend service's handlers to c.
func Register(c *events.Consumer, dir Directory, logger *slog.Logger) {
	events.OnUser(c, func(ctx context.Context, tx pgx.Tx, _ events.Event, msg *eventsv1.UserRegistered, id string) error {
		if err := dir.RecordRegistration(ctx, tx, id, msg.GetNickname()); err != nil {
			return err
		}
		logger.DebugContext(ctx, "user recorded", slog.String("user", id))
		return nil
	})
	events.OnUser(c, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *eventsv1.ProfileUpdated, id string) error {
		// Keep the nickname change whatever the avatar fields say; show nothing that is not an
		// avatar's file id and an http(s) URL.
		avatar, thumb, dropped := validate.FileLink(msg.GetAvatarFileId(), msg.GetAvatarThumbnailUrl())
		if dropped != "" {
			logger.WarnContext(ctx, "ProfileUpdated with a malformed avatar; applying the rest",
				slog.String("event_id", ev.ID), slog.String("user", id), slog.String("dropped", dropped))
		}
		applied, err := dir.ApplyProfile(ctx, tx, friend.ProfileChange{UserID: id, Nickname: msg.GetNickname(),
			AvatarFileID: avatar, AvatarThumbnailURL: thumb, Version: msg.GetVersion()})
		if err != nil {
			return err
		}
		if !applied {
			logger.DebugContext(ctx, "stale profile version ignored", slog.String("user", id), slog.Int64("version", msg.GetVersion()))
		}
		return nil
	})
	events.OnUser(c, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *eventsv1.UserDeleted, id string) error {
		if err := dir.DeleteUser(ctx, tx, id, ev.TimeOr(msg.GetDeletedAt())); err != nil {
			return err
		}
		logger.InfoContext(ctx, "user deleted", slog.String("user", id))
		return nil
	})
}

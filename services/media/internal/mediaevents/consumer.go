// Package mediaevents consumes the events the media service reacts to: UserDeleted (topic
// parley.auth.v1) deletes every file of the deleted user (mediadb.Store.DeleteOwner; the janitor
// then removes their bytes, thumbnails included, and rows). Handlers run inside platform/events'
// inbox transaction, so a redelivered event has no second effect.
package mediaevents

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/events"
)

// Group is the media service's consumer group.
const Group = "media"

// Topics are the topics the group reads.
var Topics = []string{topics.Auth}

// Deleter deletes a deleted user's files inside the consumer's transaction (mediadb.Store
// implements it).
type Deleter interface {
	DeleteOwner(ctx context.Context, tx pgx.Tx, owner string, at time.Time) (int64, error)
}

// Register adds the media service's handlers to c.
func Register(c *events.Consumer, store Deleter, logger *slog.Logger) {
	events.OnUser(c, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *eventsv1.UserDeleted, id string) error {
		n, err := store.DeleteOwner(ctx, tx, id, ev.TimeOr(msg.GetDeletedAt()))
		if err != nil {
			return err
		}
		logger.InfoContext(ctx, "files of a deleted account marked deleted", slog.String("user", id), slog.Int64("files", n))
		return nil
	})
}

// Package profileevents consumes the events the profile service reacts to: UserRegistered (topic
// parley.auth.v1) creates the new person's profile. Handlers run inside platform/events' inbox
// transaction, so a redelivered event has no second effect.
package profileevents

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/validate"
	"github.com/parleyhq/parley/services/profile/internal/profile"
)

// Group is the profile service's consumer group.
const Group = "profile"

// Topics are the topics the group reads.
var Topics = []string{topics.Auth}

// Creator creates a profile for a new registration inside the consumer's transaction, idempotently
// per user (profiledb.Store implements it).
type Creator interface {
	CreateFromRegistration(ctx context.Context, tx pgx.Tx, reg profile.Registration) (profile.Profile, bool, error)
}

// Register adds the profile service's handlers to c.
func Register(c *events.Consumer, creator Creator, logger *slog.Logger) {
	events.On(c, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *eventsv1.UserRegistered) error {
		id, err := validate.UUID("user_id", msg.GetUserId())
		if err != nil {
			return events.Permanent(fmt.Errorf("UserRegistered %s: %w", ev.ID, err))
		}
		p, created, err := creator.CreateFromRegistration(ctx, tx, profile.Registration{UserID: id, RequestedNickname: msg.GetNickname()})
		if err != nil {
			return fmt.Errorf("create profile for %s: %w", id, err)
		}
		if created {
			logger.InfoContext(ctx, "profile created", slog.String("user", id), slog.String("nickname", p.Nickname),
				slog.Bool("requested_nickname_taken", p.NicknameStatus == profile.NicknameRequestedTaken))
		}
		return nil
	})
}

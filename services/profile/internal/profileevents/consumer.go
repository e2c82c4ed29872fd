// Package profileevents consumes the events the profile service reacts to: UserRegistered (topic
// parley.auth.v1) creates the new person's profile, UserDeleted erases it and frees its nickname.
// Handlers run inside platform/events' inbox transaction, so a redelivered event has no second
// effect.
package profileevents

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/events"
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

// Deleter erases a deleted user's profile inside the consumer's transaction and keeps its
// tombstone, returning the deleted profile's version (0: none) (profiledb.Store implements it).
type Deleter interface {
	DeleteUser(ctx context.Context, tx pgx.Tx, userID string, at time.Time) (int64, error)
}

// Store is what the handlers write through.
type Store interface {
	Creator
	Deleter
}

// Invalidator fences a profile's cache entry (profile.Cache; profilecache.Cache implements it).
type Invalidator interface {
	Invalidate(ctx context.Context, userID string, version int64) error
}

// Register adds the profile service's handlers to c.
func Register(c *events.Consumer, creator Store, cache Invalidator, logger *slog.Logger) {
	events.OnUser(c, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *eventsv1.UserRegistered, id string) error {
		p, created, err := creator.CreateFromRegistration(ctx, tx, profile.Registration{UserID: id, RequestedNickname: msg.GetNickname()})
		if err != nil {
			return fmt.Errorf("create profile for %s: %w", id, err)
		}
		if created {
			// No nickname: logs hold ids, which identify nobody once the account is gone (privacy.md).
			logger.InfoContext(ctx, "profile created", slog.String("user", id),
				slog.Bool("requested_nickname_taken", p.NicknameStatus == profile.NicknameRequestedTaken))
		}
		return nil
	})

	events.OnUser(c, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *eventsv1.UserDeleted, id string) error {
		version, err := creator.DeleteUser(ctx, tx, id, ev.TimeOr(msg.GetDeletedAt()))
		if err != nil {
			return fmt.Errorf("delete profile of %s: %w", id, err)
		}
		if version == 0 {
			return nil // no profile (deleted already, or never created)
		}
		// Before the commit, above the deleted version: a reader that read the row just before
		// cannot put it back into the cache.
		if err := cache.Invalidate(ctx, id, version+1); err != nil {
			return events.Transient(fmt.Errorf("invalidate cached profile of %s: %w", id, err))
		}
		logger.InfoContext(ctx, "profile deleted", slog.String("user", id))
		return nil
	})
}

package frienddb

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/platform/pg"
)

// DeleteUser erases everything the service holds about userID, inside tx (the consumer's
// transaction for UserDeleted): the requests they sent or received, the blocks either way, the
// pairs (friendships) they are part of, and their users row; and records the tombstone that
// keeps late events and calls from recreating any of it. Deleting nothing is fine (a redelivery).
// No friend events are published: the peers' lists simply no longer show the user.
func (s *Store) DeleteUser(ctx context.Context, tx pgx.Tx, userID string, at time.Time) error {
	if err := pg.DeletedUsers.Record(ctx, tx, userID, at); err != nil {
		return err
	}
	for _, q := range []string{
		`DELETE FROM friend_requests WHERE from_user_id = $1 OR to_user_id = $1`,
		`DELETE FROM blocks WHERE blocker_id = $1 OR blocked_id = $1`,
		`DELETE FROM pairs WHERE user_lo = $1 OR user_hi = $1`,
		`DELETE FROM users WHERE user_id = $1`,
	} {
		if _, err := tx.Exec(ctx, q, userID); err != nil {
			return fmt.Errorf("delete user %s: %w", userID, err)
		}
	}
	return nil
}

package profiledb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/platform/pg"
)

// DeleteUser erases userID's profile inside tx (the consumer's transaction for UserDeleted) and
// records the tombstone, freeing the nickname. It returns the deleted profile's version (0 when
// there was none: deleted already, or never created) so the caller can fence the cache above it.
func (s *Store) DeleteUser(ctx context.Context, tx pgx.Tx, userID string, at time.Time) (int64, error) {
	if err := pg.DeletedUsers.Record(ctx, tx, userID, at); err != nil {
		return 0, err
	}
	var version int64
	err := tx.QueryRow(ctx, `DELETE FROM profiles WHERE user_id = $1 RETURNING version`, userID).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("delete profile: %w", err)
	}
	return version, nil
}

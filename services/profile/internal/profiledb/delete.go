package profiledb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DeleteUser erases userID's profile inside tx (the consumer's transaction for UserDeleted) and
// records the tombstone, freeing the nickname. It returns the deleted profile's version (0 when
// there was none: deleted already, or never created) so the caller can fence the cache above it.
func (s *Store) DeleteUser(ctx context.Context, tx pgx.Tx, userID string, at time.Time) (int64, error) {
	if _, err := tx.Exec(ctx, `INSERT INTO deleted_users (user_id, deleted_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		userID, at); err != nil {
		return 0, fmt.Errorf("insert tombstone: %w", err)
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

// deleted reports whether userID's account was deleted.
func deleted(ctx context.Context, tx pgx.Tx, userID string) (bool, error) {
	var gone bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deleted_users WHERE user_id = $1)`, userID).Scan(&gone); err != nil {
		return false, fmt.Errorf("look up deleted user: %w", err)
	}
	return gone, nil
}

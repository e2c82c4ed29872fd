package authdb

// Account deletion: the account's rows go, a tombstone stays (migrations/009_account_deletion.sql).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/pg"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

var _ auth.DeleteStore = (*Store)(nil)

// SessionStart implements auth.DeleteStore.
func (s *Store) SessionStart(ctx context.Context, userID, sessionID string) (time.Time, error) {
	var started time.Time
	err := s.pool.QueryRow(ctx, `SELECT created_at FROM sessions WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`,
		sessionID, userID).Scan(&started)
	if errors.Is(err, pgx.ErrNoRows) || isInvalidText(err) {
		return time.Time{}, domainerr.ErrNotFound
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("select session: %w", err)
	}
	return started.UTC(), nil
}

// DeleteAccount implements auth.DeleteStore.
func (s *Store) DeleteAccount(ctx context.Context, d auth.AccountDeletion) error {
	return pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		// The user row first, as every writer of the user's events locks it; FOR UPDATE, as the
		// row goes. Of two concurrent deletions, the second finds no row.
		var email *string
		err := tx.QueryRow(ctx, `SELECT email FROM users WHERE id = $1 FOR UPDATE`, d.UserID).Scan(&email)
		if errors.Is(err, pgx.ErrNoRows) || isInvalidText(err) {
			return auth.ErrAccountNotFound
		}
		if err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		if _, err := s.revokeOthers(ctx, tx, d.UserID, "", auth.RevokeAccountDeleted, d.At); err != nil {
			return err
		}
		// Sessions, refresh tokens, credentials, identities, password resets and verification
		// links go with the row (ON DELETE CASCADE).
		if _, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, d.UserID); err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO deleted_users (id, deleted_at) VALUES ($1, $2)`, d.UserID, d.At); err != nil {
			return fmt.Errorf("insert tombstone: %w", err)
		}
		keys := []string{"verify:" + d.UserID}
		if email != nil && *email != "" {
			account := auth.NewLoginKey(*email, "").Account
			if _, err := tx.Exec(ctx, `DELETE FROM login_throttle WHERE account = $1`, account); err != nil {
				return fmt.Errorf("delete login throttle: %w", err)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM login_throttle_accounts WHERE account = $1`, account); err != nil {
				return fmt.Errorf("delete account login throttle: %w", err)
			}
			keys = append(keys, auth.ResetEmailKey(*email))
		}
		if _, err := tx.Exec(ctx, `DELETE FROM email_request_budget WHERE key = ANY($1)`, keys); err != nil {
			return fmt.Errorf("delete request budgets: %w", err)
		}
		return s.publish(ctx, tx, d.UserID, &eventsv1.UserDeleted{UserId: d.UserID, DeletedAt: timestamppb.New(d.At)})
	})
}

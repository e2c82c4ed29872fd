package authdb

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

// LiveSessions implements auth.SessionStore.
func (s *Store) LiveSessions(ctx context.Context, userID string, now time.Time) ([]auth.Session, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, method, created_at, coalesce(refreshed_at, created_at) AS last_used_at, expires_at,
		       user_agent, client_network
		FROM sessions
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
		ORDER BY last_used_at DESC, id DESC`, userID, now)
	if err != nil {
		return nil, fmt.Errorf("select sessions: %w", err)
	}
	sessions, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (auth.Session, error) {
		var v auth.Session
		err := row.Scan(&v.ID, &v.Method, &v.CreatedAt, &v.LastUsedAt, &v.ExpiresAt, &v.UserAgent, &v.ClientNetwork)
		v.CreatedAt, v.LastUsedAt, v.ExpiresAt = v.CreatedAt.UTC(), v.LastUsedAt.UTC(), v.ExpiresAt.UTC()
		return v, err
	})
	if isInvalidText(err) {
		return nil, nil // not a user id: no sessions
	}
	if err != nil {
		return nil, fmt.Errorf("select sessions: %w", err)
	}
	return sessions, nil
}

// RevokeUserSession implements auth.SessionStore.
func (s *Store) RevokeUserSession(ctx context.Context, userID, sessionID, reason string, now time.Time) (bool, error) {
	found := false
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		found = false
		var revoked *time.Time
		// The session row's lock serialises this with its refreshes and its logout.
		err := tx.QueryRow(ctx, `SELECT revoked_at FROM sessions WHERE id = $1 AND user_id = $2 FOR UPDATE`,
			sessionID, userID).Scan(&revoked)
		if errors.Is(err, pgx.ErrNoRows) || isInvalidText(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("select session: %w", err)
		}
		found = true
		if revoked != nil {
			return nil
		}
		return s.revoke(ctx, tx, userID, sessionID, reason, now)
	})
	return found, err
}

// RevokeOtherSessions implements auth.SessionStore.
func (s *Store) RevokeOtherSessions(ctx context.Context, userID, keep, reason string, now time.Time) (int, error) {
	var n int
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		n, err = s.revokeOthers(ctx, tx, userID, keep, reason, now)
		return err
	})
	return n, err
}

// revokeOthers revokes the user's live sessions but keep ("" keeps none), each with its
// SessionRevoked event.
func (s *Store) revokeOthers(ctx context.Context, tx pgx.Tx, userID, keep, reason string, now time.Time) (int, error) {
	var keepID *string
	if keep != "" {
		keepID = &keep
	}
	// The user row first, as every writer of the user's events locks it (events.Outbox order).
	if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, userID); err != nil {
		return 0, fmt.Errorf("lock user: %w", err)
	}
	rows, err := tx.Query(ctx, `
		UPDATE sessions SET revoked_at = $3, revoke_reason = $4
		WHERE id IN (
			SELECT id FROM sessions
			WHERE user_id = $1 AND id IS DISTINCT FROM $2::uuid AND revoked_at IS NULL AND expires_at > $3
			ORDER BY id FOR UPDATE)
		RETURNING id::text`, userID, keepID, now, reason)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	for _, id := range ids {
		err := s.publish(ctx, tx, userID, &eventsv1.SessionRevoked{
			UserId: userID, SessionId: id, Reason: reason, RevokedAt: timestamppb.New(now),
		})
		if err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// AccountPassword implements auth.SessionStore.
func (s *Store) AccountPassword(ctx context.Context, userID string) (auth.AccountPassword, error) {
	var a auth.AccountPassword
	var email, hash *string
	err := s.pool.QueryRow(ctx, `
		SELECT u.email, p.hash FROM users u LEFT JOIN password_credentials p ON p.user_id = u.id
		WHERE u.id = $1`, userID).Scan(&email, &hash)
	if errors.Is(err, pgx.ErrNoRows) || isInvalidText(err) {
		return a, domainerr.ErrNotFound
	}
	if err != nil {
		return a, fmt.Errorf("select account password: %w", err)
	}
	if email != nil {
		a.Email = *email
	}
	if hash != nil {
		a.PasswordHash = *hash
	}
	return a, nil
}

// ChangePassword implements auth.SessionStore.
func (s *Store) ChangePassword(ctx context.Context, c auth.PasswordChange) (int, error) {
	var revoked int
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE password_credentials SET hash = $3, updated_at = $4 WHERE user_id = $1 AND hash = $2`,
			c.UserID, c.OldHash, c.NewHash, c.At)
		if err != nil {
			return fmt.Errorf("update password: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return auth.ErrPasswordChangedMeanwhile
		}
		if revoked, err = s.revokeOthers(ctx, tx, c.UserID, c.SessionID, auth.RevokePasswordChanged, c.At); err != nil {
			return err
		}
		if err := s.endResets(ctx, tx, c.UserID, c.At); err != nil {
			return err
		}
		return s.publish(ctx, tx, c.UserID, &eventsv1.PasswordChanged{
			UserId: c.UserID, SessionId: c.SessionID, ChangedAt: timestamppb.New(c.At),
		})
	})
	return revoked, err
}

package authdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/platform/pg"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

// RequestPasswordReset implements auth.ResetStore. Whether or not an account has the email, it
// runs the same statements: the two budget rows, then one statement that ends the account's open
// resets and stores the new one (both doing nothing without an account).
func (s *Store) RequestPasswordReset(ctx context.Context, r auth.ResetRequest) (auth.ResetOutcome, error) {
	var out auth.ResetOutcome
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		out = auth.ResetOutcome{}
		// Keys in a fixed order (client, then email), so two requests never lock them crosswise.
		budgets := []budget{
			{key: "client:" + r.Client, limit: r.Policy.PerClient},
			{key: auth.ResetEmailKey(r.Email), limit: r.Policy.PerEmail},
		}
		for i := range budgets {
			wait, err := budgets[i].lock(ctx, tx, r.At, r.Policy.Window)
			if err != nil {
				return err
			}
			out.Wait = max(out.Wait, wait)
		}
		if out.Wait > 0 {
			return nil // refused: nothing charged
		}
		for _, b := range budgets {
			if err := b.charge(ctx, tx); err != nil {
				return err
			}
		}
		var userID *string
		err := tx.QueryRow(ctx, `
			WITH u AS (SELECT id FROM users WHERE email = $1),
			ended AS (
				UPDATE password_resets SET ended_at = $3
				WHERE user_id IN (SELECT id FROM u) AND ended_at IS NULL),
			stored AS (
				INSERT INTO password_resets (token_hash, user_id, created_at, expires_at)
				SELECT $2, id, $3, $4 FROM u
				RETURNING user_id)
			SELECT (SELECT user_id::text FROM stored)`, r.Email, r.TokenHash, r.At, r.ExpiresAt).Scan(&userID)
		if err != nil {
			return fmt.Errorf("store password reset: %w", err)
		}
		if userID != nil {
			out.UserID = *userID
		}
		return nil
	})
	return out, err
}

// ResetTarget implements auth.ResetStore.
func (s *Store) ResetTarget(ctx context.Context, tokenHash []byte, now time.Time) (string, error) {
	var email *string
	err := s.pool.QueryRow(ctx, `
		SELECT u.email FROM password_resets r JOIN users u ON u.id = r.user_id
		WHERE r.token_hash = $1 AND r.ended_at IS NULL AND r.expires_at > $2`, tokenHash, now).Scan(&email)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", auth.ErrResetTokenInvalid
	}
	if err != nil {
		return "", fmt.Errorf("select password reset: %w", err)
	}
	if email == nil {
		return "", nil
	}
	return *email, nil
}

// ResetPassword implements auth.ResetStore.
func (s *Store) ResetPassword(ctx context.Context, r auth.PasswordReset) error {
	return pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var userID string
		// Ending the reset first locks it: of two concurrent uses, one finds it ended.
		err := tx.QueryRow(ctx, `
			UPDATE password_resets SET ended_at = $2
			WHERE token_hash = $1 AND ended_at IS NULL AND expires_at > $2
			RETURNING user_id::text`, r.TokenHash, r.At).Scan(&userID)
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.ErrResetTokenInvalid
		}
		if err != nil {
			return fmt.Errorf("use password reset: %w", err)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO password_credentials (user_id, hash, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at`,
			userID, r.NewHash, r.At); err != nil {
			return fmt.Errorf("store password: %w", err)
		}
		if _, err := s.revokeOthers(ctx, tx, userID, "", auth.RevokePasswordReset, r.At); err != nil {
			return err
		}
		if err := s.endResets(ctx, tx, userID, r.At); err != nil {
			return err
		}
		return s.publish(ctx, tx, userID, &eventsv1.PasswordChanged{UserId: userID, ChangedAt: timestamppb.New(r.At)})
	})
}

// endResets ends the user's open password resets: a password change makes every emailed link stop
// working.
func (s *Store) endResets(ctx context.Context, tx pgx.Tx, userID string, at time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE password_resets SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL`, userID, at); err != nil {
		return fmt.Errorf("end password resets: %w", err)
	}
	return nil
}

// budget is one row of email_request_budget: requests under key in fixed windows, at most limit
// each. lock reads it under a row lock; charge counts one more request.
type budget struct {
	key      string
	limit    int
	start    time.Time
	requests int
}

// lock takes the budget's row lock (creating the row) and returns how long until a request may
// pass (0: now).
func (b *budget) lock(ctx context.Context, tx pgx.Tx, now time.Time, window time.Duration) (time.Duration, error) {
	err := tx.QueryRow(ctx, `
		INSERT INTO email_request_budget AS b (key, window_start, requests) VALUES ($1, $2, 0)
		ON CONFLICT (key) DO UPDATE SET key = b.key
		RETURNING window_start, requests`, b.key, now).Scan(&b.start, &b.requests)
	if err != nil {
		return 0, fmt.Errorf("lock request budget: %w", err)
	}
	if !now.Before(b.start.Add(window)) { // the window is over: a new one starts now
		b.start, b.requests = now, 0
	}
	if b.requests >= b.limit {
		return b.start.Add(window).Sub(now), nil
	}
	return 0, nil
}

// charge stores one more request in the window lock found.
func (b *budget) charge(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `UPDATE email_request_budget SET window_start = $2, requests = $3 WHERE key = $1`,
		b.key, b.start, b.requests+1); err != nil {
		return fmt.Errorf("charge request budget: %w", err)
	}
	return nil
}

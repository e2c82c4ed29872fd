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

// insertVerification ends the user's open verification links and stores v.
func insertVerification(ctx context.Context, tx pgx.Tx, v auth.NewVerification) error {
	if _, err := tx.Exec(ctx, `UPDATE email_verifications SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL`,
		v.UserID, v.CreatedAt); err != nil {
		return fmt.Errorf("end verification links: %w", err)
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO email_verifications (token_hash, user_id, email, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		v.TokenHash, v.UserID, v.Email, v.CreatedAt, v.ExpiresAt); err != nil {
		return fmt.Errorf("insert verification link: %w", err)
	}
	return nil
}

// ReplaceVerification implements auth.VerificationStore.
func (s *Store) ReplaceVerification(ctx context.Context, v auth.NewVerification, limit int, window time.Duration) (time.Duration, error) {
	var wait time.Duration
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var email *string
		var verified *time.Time
		err := tx.QueryRow(ctx, `SELECT email, email_verified_at FROM users WHERE id = $1 FOR NO KEY UPDATE`, v.UserID).Scan(&email, &verified)
		switch {
		case errors.Is(err, pgx.ErrNoRows) || isInvalidText(err):
			return auth.ErrAccountNotFound
		case err != nil:
			return fmt.Errorf("lock user: %w", err)
		case email == nil:
			return auth.ErrNoEmail
		case verified != nil:
			return auth.ErrEmailAlreadyVerified
		}
		v.Email = *email
		b := budget{key: "verify:" + v.UserID, limit: limit}
		if wait, err = b.lock(ctx, tx, v.CreatedAt, window); err != nil || wait > 0 {
			return err
		}
		if err := b.charge(ctx, tx); err != nil {
			return err
		}
		return insertVerification(ctx, tx, v)
	})
	return wait, err
}

// VerifyEmail implements auth.VerificationStore.
func (s *Store) VerifyEmail(ctx context.Context, tokenHash []byte, now time.Time) (auth.Verified, error) {
	var v auth.Verified
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		// The user row first, as every writer of the user's events and links locks it (no
		// deadlock with ReplaceVerification; events in commit order).
		var userID string
		err := tx.QueryRow(ctx, `SELECT user_id::text FROM email_verifications WHERE token_hash = $1`, tokenHash).Scan(&userID)
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.ErrVerificationInvalid
		}
		if err != nil {
			return fmt.Errorf("find verification link: %w", err)
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, userID); err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		// Ending the link: of two concurrent uses, one finds it ended. It must be for the address
		// the account has now.
		err = tx.QueryRow(ctx, `
			UPDATE email_verifications e SET ended_at = $2
			FROM users u
			WHERE e.token_hash = $1 AND e.ended_at IS NULL AND e.expires_at > $2
			  AND u.id = e.user_id AND u.email = e.email
			RETURNING e.user_id::text, e.email`, tokenHash, now).Scan(&v.UserID, &v.Email)
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.ErrVerificationInvalid
		}
		if err != nil {
			return fmt.Errorf("use verification link: %w", err)
		}
		tag, err := tx.Exec(ctx, `UPDATE users SET email_verified_at = $2 WHERE id = $1 AND email_verified_at IS NULL`, v.UserID, now)
		if err != nil {
			return fmt.Errorf("mark email verified: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil // verified already (by an older link used meanwhile): nothing new to announce
		}
		return s.publish(ctx, tx, v.UserID, &eventsv1.EmailVerified{UserId: v.UserID, Email: v.Email, VerifiedAt: timestamppb.New(now)})
	})
	return v, err
}

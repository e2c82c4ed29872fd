package authdb

// Two-factor authentication: TOTP enrolments, recovery codes and the challenges of two-step
// sign-ins.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/pg"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

// totpStatusColumns are an account's auth.TOTPStatus in a query of users u (Active, then
// RecoveryCodesRemaining: its unused recovery codes while TOTP is in force, else 0), so a read of
// the account brings them along.
const totpStatusColumns = `
	EXISTS (SELECT 1 FROM totp_credentials c WHERE c.user_id = u.id AND c.confirmed_at IS NOT NULL),
	(SELECT count(*) FROM totp_recovery_codes r JOIN totp_credentials c ON c.user_id = r.user_id
	 WHERE r.user_id = u.id AND r.used_at IS NULL AND c.confirmed_at IS NOT NULL)`

// SaveTOTPEnrollment implements auth.TOTPStore.
func (s *Store) SaveTOTPEnrollment(ctx context.Context, userID string, sealed []byte, keyID string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO totp_credentials AS c (user_id, secret_sealed, key_id, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, key_id = excluded.key_id,
			created_at = excluded.created_at, last_used_step = 0
		WHERE c.confirmed_at IS NULL`, userID, sealed, keyID, at)
	if err != nil {
		return fmt.Errorf("save totp enrolment: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return auth.ErrTOTPAlreadyActive
	}
	return nil
}

// TOTPCredential implements auth.TOTPStore.
func (s *Store) TOTPCredential(ctx context.Context, userID string) (auth.TOTPCredential, error) {
	var c auth.TOTPCredential
	err := s.pool.QueryRow(ctx, `SELECT secret_sealed, confirmed_at IS NOT NULL, last_used_step FROM totp_credentials WHERE user_id = $1`,
		userID).Scan(&c.Sealed, &c.Confirmed, &c.LastStep)
	if errors.Is(err, pgx.ErrNoRows) || isInvalidText(err) {
		return c, domainerr.ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("select totp credential: %w", err)
	}
	return c, nil
}

// ConfirmTOTP implements auth.TOTPStore.
func (s *Store) ConfirmTOTP(ctx context.Context, userID string, sealed []byte, step int64, recoveryHashes [][]byte, at time.Time) error {
	return pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockUser(ctx, tx, userID); err != nil { // see "Lock order" in store.go
			return err
		}
		tag, err := tx.Exec(ctx, `
			UPDATE totp_credentials SET confirmed_at = $3, last_used_step = $4
			WHERE user_id = $1 AND secret_sealed = $2 AND confirmed_at IS NULL`, userID, sealed, at, step)
		if err != nil {
			return fmt.Errorf("confirm totp: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return auth.ErrTOTPEnrollmentChanged
		}
		if _, err := tx.Exec(ctx, `DELETE FROM totp_recovery_codes WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("delete old recovery codes: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO totp_recovery_codes (user_id, code_hash) SELECT $1, unnest($2::bytea[])`,
			userID, recoveryHashes); err != nil {
			return fmt.Errorf("insert recovery codes: %w", err)
		}
		return nil
	})
}

// DisableTOTP implements auth.TOTPStore.
func (s *Store) DisableTOTP(ctx context.Context, userID string, proof auth.SecondFactorProof, at time.Time) error {
	return pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockUser(ctx, tx, userID); err != nil { // see "Lock order" in store.go
			return err
		}
		var confirmed bool
		err := tx.QueryRow(ctx, `SELECT confirmed_at IS NOT NULL FROM totp_credentials WHERE user_id = $1 FOR UPDATE`, userID).Scan(&confirmed)
		if errors.Is(err, pgx.ErrNoRows) || err == nil && !confirmed {
			return auth.ErrTOTPNotActive
		}
		if err != nil {
			return fmt.Errorf("lock totp credential: %w", err)
		}
		if err := spend(ctx, tx, userID, proof, at); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM totp_credentials WHERE user_id = $1`, userID); err != nil { // recovery codes cascade
			return fmt.Errorf("delete totp credential: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM login_challenges WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("delete sign-in challenges: %w", err)
		}
		return nil
	})
}

// spend uses a second factor: a TOTP step later than the last accepted one, or an unused
// recovery code. auth.ErrSecondFactorSpent when it cannot be used any more; auth.ErrBadSecondFactor
// for a recovery code the account never had (a typo must not read "already used").
func spend(ctx context.Context, tx pgx.Tx, userID string, proof auth.SecondFactorProof, at time.Time) error {
	var tag pgconn.CommandTag
	var err error
	switch {
	case proof.RecoveryHash != nil:
		tag, err = tx.Exec(ctx, `UPDATE totp_recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL`,
			userID, proof.RecoveryHash, at)
	case proof.Step > 0:
		// Only a step later than the last accepted: of two concurrent uses of one code, one wins.
		tag, err = tx.Exec(ctx, `UPDATE totp_credentials SET last_used_step = $2 WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_used_step < $2`,
			userID, proof.Step)
	default:
		return nil // re-authenticated otherwise (a password)
	}
	if err != nil {
		return fmt.Errorf("spend second factor: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return spentOrWrong(ctx, tx, userID, proof)
	}
	return nil
}

// spentOrWrong says why proof could not be spent: a recovery code the account does not have is
// wrong, anything else was used already.
func spentOrWrong(ctx context.Context, tx pgx.Tx, userID string, proof auth.SecondFactorProof) error {
	if proof.RecoveryHash == nil {
		return auth.ErrSecondFactorSpent
	}
	var had bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM totp_recovery_codes WHERE user_id = $1 AND code_hash = $2)`,
		userID, proof.RecoveryHash).Scan(&had); err != nil {
		return fmt.Errorf("look up recovery code: %w", err)
	}
	if !had {
		return auth.ErrBadSecondFactor
	}
	return auth.ErrSecondFactorSpent
}

// SaveLoginChallenge implements auth.TOTPStore.
func (s *Store) SaveLoginChallenge(ctx context.Context, c auth.LoginChallenge) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO login_challenges (challenge_hash, user_id, method, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		c.Hash, c.UserID, c.Method, c.CreatedAt, c.ExpiresAt)
	if err != nil {
		return fmt.Errorf("insert sign-in challenge: %w", err)
	}
	return nil
}

// ChallengeTarget implements auth.TOTPStore.
func (s *Store) ChallengeTarget(ctx context.Context, hash []byte, now time.Time) (auth.ChallengeTarget, error) {
	var t auth.ChallengeTarget
	err := s.pool.QueryRow(ctx, `
		SELECT c.user_id::text, c.method, coalesce(u.email, ''), u.email_verified_at IS NOT NULL
		FROM login_challenges c JOIN users u ON u.id = c.user_id
		WHERE c.challenge_hash = $1 AND c.expires_at > $2`, hash, now).Scan(&t.UserID, &t.Method, &t.Email, &t.EmailVerified)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, auth.ErrChallengeInvalid
	}
	if err != nil {
		return t, fmt.Errorf("select sign-in challenge: %w", err)
	}
	return t, nil
}

// CompleteTwoFactor implements auth.TOTPStore.
func (s *Store) CompleteTwoFactor(ctx context.Context, challengeHash []byte, proof auth.SecondFactorProof, session auth.NewSession) (int, error) {
	var left int
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		// The user row first (see "Lock order" in store.go).
		if err := lockUser(ctx, tx, session.UserID); err != nil {
			return err
		}
		// Deleting the challenge locks it: of two concurrent completions, one finds it gone.
		tag, err := tx.Exec(ctx, `DELETE FROM login_challenges WHERE challenge_hash = $1 AND user_id = $2 AND expires_at > $3`,
			challengeHash, session.UserID, session.CreatedAt)
		if err != nil {
			return fmt.Errorf("end sign-in challenge: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return auth.ErrChallengeInvalid
		}
		if err := spend(ctx, tx, session.UserID, proof, session.CreatedAt); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM totp_recovery_codes WHERE user_id = $1 AND used_at IS NULL`,
			session.UserID).Scan(&left); err != nil {
			return fmt.Errorf("count recovery codes: %w", err)
		}
		return s.insertSession(ctx, tx, session)
	})
	return left, err
}

// DeleteExpiredLoginChallenges removes up to DeleteBatch challenges that expired before now and
// returns how many went.
func (s *Store) DeleteExpiredLoginChallenges(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM login_challenges WHERE challenge_hash IN (
			SELECT challenge_hash FROM login_challenges WHERE expires_at < $1 LIMIT $2)`, now, DeleteBatch)
	if err != nil {
		return 0, fmt.Errorf("delete expired sign-in challenges: %w", err)
	}
	return tag.RowsAffected(), nil
}

package authdb

// The account's life after sign-up: the sessions its owner sees and ends, password changes and
// resets, email verification, and deletion.

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
	sessions, err := pg.QueryAll(ctx, s.pool, scanSession, `
		SELECT id, method, created_at, coalesce(refreshed_at, created_at) AS last_used_at, expires_at,
		       user_agent, client_network
		FROM sessions
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
		ORDER BY last_used_at DESC, id DESC`, userID, now)
	if isInvalidText(err) {
		return nil, nil // not a user id: no sessions
	}
	if err != nil {
		return nil, fmt.Errorf("select sessions: %w", err)
	}
	return sessions, nil
}

func scanSession(row pgx.Row) (auth.Session, error) {
	var v auth.Session
	err := row.Scan(&v.ID, &v.Method, &v.CreatedAt, &v.LastUsedAt, &v.ExpiresAt, &v.UserAgent, &v.ClientNetwork)
	v.CreatedAt, v.LastUsedAt, v.ExpiresAt = v.CreatedAt.UTC(), v.LastUsedAt.UTC(), v.ExpiresAt.UTC()
	return v, err
}

// RevokeUserSession implements auth.SessionStore.
func (s *Store) RevokeUserSession(ctx context.Context, userID, sessionID, reason string, now time.Time) (bool, error) {
	found := false
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		found = false
		if err := lockUser(ctx, tx, userID); err != nil {
			return err
		}
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
		if err := lockUser(ctx, tx, userID); err != nil { // see "Lock order" in store.go
			return err
		}
		var err error
		n, err = s.revokeOthers(ctx, tx, userID, keep, reason, now)
		return err
	})
	return n, err
}

// revokeOthers revokes the user's live sessions but keep ("" keeps none), each with its
// SessionRevoked event. The caller holds the user's row lock (see "Lock order" in store.go).
func (s *Store) revokeOthers(ctx context.Context, tx pgx.Tx, userID, keep, reason string, now time.Time) (int, error) {
	var keepID *string
	if keep != "" {
		keepID = &keep
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
	err := s.pool.QueryRow(ctx, `
		SELECT coalesce(u.email, ''), coalesce(p.hash, '') FROM users u LEFT JOIN password_credentials p ON p.user_id = u.id
		WHERE u.id = $1`, userID).Scan(&a.Email, &a.PasswordHash)
	if errors.Is(err, pgx.ErrNoRows) || isInvalidText(err) {
		return a, domainerr.ErrNotFound
	}
	if err != nil {
		return a, fmt.Errorf("select account password: %w", err)
	}
	return a, nil
}

// ChangePassword implements auth.SessionStore.
func (s *Store) ChangePassword(ctx context.Context, c auth.PasswordChange) (int, error) {
	var revoked int
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockUser(ctx, tx, c.UserID); err != nil {
			return err
		}
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
		return s.publishPasswordChanged(ctx, tx, c.UserID, c.SessionID, auth.RevokePasswordChanged, c.At)
	})
	return revoked, err
}

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
		err := tx.QueryRow(ctx, `
			WITH u AS (SELECT id FROM users WHERE email = $1 FOR NO KEY UPDATE),
			ended AS (
				UPDATE password_resets SET ended_at = $3
				WHERE user_id IN (SELECT id FROM u) AND ended_at IS NULL),
			stored AS (
				INSERT INTO password_resets (token_hash, user_id, created_at, expires_at)
				SELECT $2, id, $3, $4 FROM u
				RETURNING user_id)
			SELECT coalesce((SELECT user_id::text FROM stored), '')`, r.Email, r.TokenHash, r.At, r.ExpiresAt).Scan(&out.UserID)
		if err != nil {
			return fmt.Errorf("store password reset: %w", err)
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
		// The user first (see "Lock order" in store.go), found through the link without locking it.
		var userID string
		err := tx.QueryRow(ctx, `
			SELECT u.id::text FROM users u
			WHERE u.id = (SELECT user_id FROM password_resets WHERE token_hash = $1)
			FOR NO KEY UPDATE OF u`, r.TokenHash).Scan(&userID)
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.ErrResetTokenInvalid
		}
		if err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		// Ending the link: of two concurrent uses, one finds it ended.
		tag, err := tx.Exec(ctx, `
			UPDATE password_resets SET ended_at = $2
			WHERE token_hash = $1 AND ended_at IS NULL AND expires_at > $2`, r.TokenHash, r.At)
		if err != nil {
			return fmt.Errorf("use password reset: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return auth.ErrResetTokenInvalid
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
		return s.publishPasswordChanged(ctx, tx, userID, "", auth.RevokePasswordReset, r.At)
	})
}

// publishPasswordChanged writes PasswordChanged with the account's address, for the notice.
func (s *Store) publishPasswordChanged(ctx context.Context, tx pgx.Tx, userID, sessionID, reason string, at time.Time) error {
	ev := &eventsv1.PasswordChanged{UserId: userID, SessionId: sessionID, ChangedAt: timestamppb.New(at), Reason: reason}
	if err := tx.QueryRow(ctx, `SELECT coalesce(email, '') FROM users WHERE id = $1`, userID).Scan(&ev.Email); err != nil {
		return fmt.Errorf("read email: %w", err)
	}
	return s.publish(ctx, tx, userID, ev)
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
func (s *Store) ReplaceVerification(ctx context.Context, v auth.NewVerification, limits []auth.Budget) (string, time.Duration, error) {
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
		budgets := make([]budget, len(limits))
		for i, l := range limits {
			budgets[i] = budget{key: l.Key, limit: l.Limit}
			w, err := budgets[i].lock(ctx, tx, v.CreatedAt, l.Window)
			if err != nil {
				return err
			}
			wait = max(wait, w)
		}
		if wait > 0 {
			return nil // refused: nothing charged
		}
		for _, b := range budgets {
			if err := b.charge(ctx, tx); err != nil {
				return err
			}
		}
		return insertVerification(ctx, tx, v)
	})
	if err != nil {
		return "", 0, err
	}
	return v.Email, wait, nil
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
		if err := lockUser(ctx, tx, userID); err != nil {
			return err
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

// Account deletion: the account's rows go, a tombstone stays (migrations/009_account_deletion.sql).

// DeleteAccount implements auth.DeleteStore.
func (s *Store) DeleteAccount(ctx context.Context, d auth.AccountDeletion) error {
	return pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		// The user row first, as every writer of the user's events locks it; FOR UPDATE, as the
		// row goes. Of two concurrent deletions, the second finds no row.
		var email string
		err := tx.QueryRow(ctx, `SELECT coalesce(email, '') FROM users WHERE id = $1 FOR UPDATE`, d.UserID).Scan(&email)
		if errors.Is(err, pgx.ErrNoRows) || isInvalidText(err) {
			return auth.ErrAccountNotFound
		}
		if err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		if err := spend(ctx, tx, d.UserID, d.SecondFactor, d.At); err != nil {
			return err
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
		var keys []string
		for _, b := range auth.VerificationBudgets(d.UserID) {
			keys = append(keys, b.Key)
		}
		accounts := auth.ThrottledAccounts(email, d.UserID)
		if _, err := tx.Exec(ctx, `DELETE FROM login_throttle WHERE account = ANY($1)`, accounts); err != nil {
			return fmt.Errorf("delete login throttle: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM login_throttle_accounts WHERE account = ANY($1)`, accounts); err != nil {
			return fmt.Errorf("delete account login throttle: %w", err)
		}
		if email != "" {
			keys = append(keys, auth.ResetEmailKey(email))
		}
		if _, err := tx.Exec(ctx, `DELETE FROM email_request_budget WHERE key = ANY($1)`, keys); err != nil {
			return fmt.Errorf("delete request budgets: %w", err)
		}
		return s.publish(ctx, tx, d.UserID, &eventsv1.UserDeleted{UserId: d.UserID, DeletedAt: timestamppb.New(d.At)})
	})
}

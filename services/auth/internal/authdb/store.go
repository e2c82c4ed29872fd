// Package authdb stores the auth service's accounts, credentials and sessions in Postgres and
// writes the service's events through the transactional outbox in the same transactions.
package authdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/pg"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

// Store implements auth.Store on Postgres.
type Store struct {
	pool   *pgxpool.Pool
	outbox *events.Outbox
}

var _ auth.Store = (*Store)(nil)

// New returns a store on pool that publishes events through outbox.
func New(pool *pgxpool.Pool, outbox *events.Outbox) *Store { return &Store{pool: pool, outbox: outbox} }

func (s *Store) publish(ctx context.Context, tx pgx.Tx, userID string, msg proto.Message) error {
	if _, err := s.outbox.Publish(ctx, tx, topics.Auth, userID, msg); err != nil {
		return err
	}
	return nil
}

// CreateAccount implements auth.Store.
func (s *Store) CreateAccount(ctx context.Context, a auth.NewAccount) error {
	return pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var email *string
		if a.Email != "" {
			email = &a.Email
		}
		var verifiedAt *time.Time
		if a.EmailVerified {
			verifiedAt = &a.CreatedAt
		}
		_, err := tx.Exec(ctx, `INSERT INTO users (id, email, created_at, email_verified_at) VALUES ($1, $2, $3, $4)`,
			a.UserID, email, a.CreatedAt, verifiedAt)
		if pg.IsUniqueViolation(err, "users_email_key") {
			return auth.ErrEmailTaken
		}
		if err != nil {
			return fmt.Errorf("insert user: %w", err)
		}
		if a.PasswordHash != "" {
			if _, err := tx.Exec(ctx, `INSERT INTO password_credentials (user_id, hash, updated_at) VALUES ($1, $2, $3)`,
				a.UserID, a.PasswordHash, a.CreatedAt); err != nil {
				return fmt.Errorf("insert password credential: %w", err)
			}
		}
		if id := a.Identity; id != nil {
			_, err := tx.Exec(ctx, `INSERT INTO oauth_identities (provider, subject, user_id, email, created_at) VALUES ($1, $2, $3, $4, $5)`,
				id.Provider, id.Subject, a.UserID, id.Email, a.CreatedAt)
			if pg.IsUniqueViolation(err, "oauth_identities_pkey") {
				return auth.ErrIdentityTaken
			}
			if err != nil {
				return fmt.Errorf("insert oauth identity: %w", err)
			}
		}
		err = s.publish(ctx, tx, a.UserID, &eventsv1.UserRegistered{
			UserId:        a.UserID,
			Nickname:      a.Nickname,
			RegisteredAt:  timestamppb.New(a.CreatedAt),
			Method:        a.Method,
			Email:         a.Email,
			EmailVerified: a.EmailVerified,
		})
		if err != nil {
			return err
		}
		if a.Verification != nil {
			if err := insertVerification(ctx, tx, *a.Verification); err != nil {
				return err
			}
		}
		return s.insertSession(ctx, tx, a.Session)
	})
}

// CreateSession implements auth.Store.
func (s *Store) CreateSession(ctx context.Context, sess auth.NewSession) error {
	return pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		// Lock the user so this user's events enter the outbox in commit order (see events.Outbox).
		var id string
		err := tx.QueryRow(ctx, `SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE`, sess.UserID).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("user %s: %w", sess.UserID, domainerr.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		return s.insertSession(ctx, tx, sess)
	})
}

// insertSession stores a session with its first refresh token and writes UserLoggedIn.
func (s *Store) insertSession(ctx context.Context, tx pgx.Tx, sess auth.NewSession) error {
	if _, err := tx.Exec(ctx, `
		INSERT INTO sessions (id, user_id, method, created_at, expires_at, user_agent, client_network)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		sess.ID, sess.UserID, sess.Method, sess.CreatedAt, sess.RefreshTokenExpiresAt, sess.UserAgent, sess.ClientNetwork); err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		sess.RefreshTokenHash, sess.ID, sess.CreatedAt, sess.RefreshTokenExpiresAt); err != nil {
		return fmt.Errorf("insert refresh token: %w", err)
	}
	return s.publish(ctx, tx, sess.UserID, &eventsv1.UserLoggedIn{
		UserId:     sess.UserID,
		SessionId:  sess.ID,
		Method:     sess.Method,
		LoggedInAt: timestamppb.New(sess.CreatedAt),
	})
}

// PasswordCredentials implements auth.Store.
func (s *Store) PasswordCredentials(ctx context.Context, email string) (auth.Credentials, error) {
	var c auth.Credentials
	err := s.pool.QueryRow(ctx, `
		SELECT u.id, p.hash, u.email_verified_at IS NOT NULL, `+totpStatusColumns+`
		FROM users u JOIN password_credentials p ON p.user_id = u.id
		WHERE u.email = $1`, email).Scan(&c.UserID, &c.PasswordHash, &c.EmailVerified, &c.TOTP.Active, &c.TOTP.RecoveryCodesRemaining)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, domainerr.ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("select credentials: %w", err)
	}
	return c, nil
}

// ReplacePasswordHash implements auth.Store.
func (s *Store) ReplacePasswordHash(ctx context.Context, userID, oldHash, newHash string) error {
	_, err := s.pool.Exec(ctx, `UPDATE password_credentials SET hash = $3, updated_at = now() WHERE user_id = $1 AND hash = $2`,
		userID, oldHash, newHash)
	if err != nil {
		return fmt.Errorf("update password hash: %w", err)
	}
	return nil
}

// RotateRefreshToken implements auth.Store.
func (s *Store) RotateRefreshToken(ctx context.Context, presented, next []byte, nextExpiresAt, now time.Time) (auth.Rotation, error) {
	var rot auth.Rotation
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		rot = auth.Rotation{}
		var (
			expiresAt       time.Time
			usedAt, revoked *time.Time
		)
		var err error
		if _, rot.EmailVerified, err = lockTokenUser(ctx, tx, presented); err != nil {
			return err
		}
		// Locking the session serialises every rotation, reuse check and logout of the family.
		err = tx.QueryRow(ctx, `
			SELECT s.id, s.user_id, s.revoked_at, t.expires_at, t.used_at
			FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
			WHERE t.token_hash = $1
			FOR UPDATE OF s, t`, presented).Scan(&rot.SessionID, &rot.UserID, &revoked, &expiresAt, &usedAt)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			rot.Outcome = auth.RefreshUnknown
			return nil
		case err != nil:
			return fmt.Errorf("select refresh token: %w", err)
		case revoked != nil:
			rot.Outcome = auth.RefreshRevoked
			return nil
		case usedAt != nil:
			rot.Outcome = auth.RefreshReused
			return s.revoke(ctx, tx, rot.UserID, rot.SessionID, auth.RevokeRefreshTokenReuse, now)
		case !now.Before(expiresAt):
			rot.Outcome = auth.RefreshExpired
			return nil
		}
		rot.Outcome = auth.Rotated
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1`, presented, now); err != nil {
			return fmt.Errorf("mark refresh token used: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
			next, rot.SessionID, now, nextExpiresAt); err != nil {
			return fmt.Errorf("insert refresh token: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE sessions SET refreshed_at = $2, expires_at = $3 WHERE id = $1`,
			rot.SessionID, now, nextExpiresAt); err != nil {
			return fmt.Errorf("update session: %w", err)
		}
		return nil
	})
	if err != nil {
		return auth.Rotation{}, err
	}
	return rot, nil
}

// RevokeSession implements auth.Store.
func (s *Store) RevokeSession(ctx context.Context, tokenHash []byte, reason string, now time.Time) (bool, error) {
	revokedNow := false
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		revokedNow = false
		if _, _, err := lockTokenUser(ctx, tx, tokenHash); err != nil {
			return err
		}
		var sessionID, userID string
		var revoked *time.Time
		err := tx.QueryRow(ctx, `
			SELECT s.id, s.user_id, s.revoked_at
			FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
			WHERE t.token_hash = $1
			FOR UPDATE OF s`, tokenHash).Scan(&sessionID, &userID, &revoked)
		if errors.Is(err, pgx.ErrNoRows) || err == nil && revoked != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("select session: %w", err)
		}
		revokedNow = true
		return s.revoke(ctx, tx, userID, sessionID, reason, now)
	})
	return revokedNow, err
}

// Lock order. A transaction that changes one user's sessions, credentials or links locks that
// user's users row FIRST (FOR NO KEY UPDATE), then the rows it changes: sessions in id order,
// then the password credential, then reset and verification links. One order everywhere means no
// two of them can deadlock; the user-row lock also puts the user's events into the outbox in
// commit order (events.Outbox).

// lockUser takes the user's row lock.
func lockUser(ctx context.Context, tx pgx.Tx, userID string) error {
	if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, userID); err != nil {
		return fmt.Errorf("lock user: %w", err)
	}
	return nil
}

// lockTokenUser takes the row lock of the user a refresh token belongs to, before its session is
// locked, and reads whether their email is verified with it; "" (and no lock) for an unknown token.
func lockTokenUser(ctx context.Context, tx pgx.Tx, tokenHash []byte) (userID string, emailVerified bool, err error) {
	err = tx.QueryRow(ctx, `
		SELECT u.id::text, u.email_verified_at IS NOT NULL FROM users u
		WHERE u.id = (SELECT s.user_id FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = $1)
		FOR NO KEY UPDATE OF u`, tokenHash).Scan(&userID, &emailVerified)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("lock user: %w", err)
	}
	return userID, emailVerified, nil
}

// revoke ends a locked session and writes SessionRevoked. The caller holds the user's row lock
// (see "Lock order").
func (s *Store) revoke(ctx context.Context, tx pgx.Tx, userID, sessionID, reason string, now time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = $2, revoke_reason = $3 WHERE id = $1`, sessionID, now, reason); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return s.publish(ctx, tx, userID, &eventsv1.SessionRevoked{
		UserId:    userID,
		SessionId: sessionID,
		Reason:    reason,
		RevokedAt: timestamppb.New(now),
	})
}

// Account implements auth.Store.
func (s *Store) Account(ctx context.Context, userID string) (auth.Account, error) {
	var a auth.Account
	err := s.pool.QueryRow(ctx, `
		SELECT u.id, coalesce(u.email, ''), u.created_at, u.email_verified_at IS NOT NULL, `+totpStatusColumns+`
		FROM users u WHERE u.id = $1`, userID).
		Scan(&a.UserID, &a.Email, &a.CreatedAt, &a.EmailVerified, &a.TOTPEnabled, &a.RecoveryCodesRemaining)
	if errors.Is(err, pgx.ErrNoRows) || isInvalidText(err) {
		return a, domainerr.ErrNotFound
	}
	if err != nil {
		return a, fmt.Errorf("select account: %w", err)
	}
	a.CreatedAt = a.CreatedAt.UTC()
	return a, nil
}

// UpdateLoginThrottle implements auth.Store. Rows are locked account × client first, then the
// account's, always in that order; the account row serialises one account's attempts (a few
// milliseconds each: no hashing happens inside).
func (s *Store) UpdateLoginThrottle(ctx context.Context, key auth.LoginKey, update func(*auth.LoginThrottleState)) error {
	return pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			st                                      auth.LoginThrottleState
			lastFailure, blocked, success, windowAt *time.Time
		)
		// An upsert that returns the row locks it, and cannot miss a row the clean-up deletes
		// in between (as INSERT … DO NOTHING followed by SELECT … FOR UPDATE could).
		err := tx.QueryRow(ctx, `
			INSERT INTO login_throttle AS t (account, client) VALUES ($1, $2)
			ON CONFLICT (account, client) DO UPDATE SET failures = t.failures
			RETURNING failures, last_failure_at, blocked_until, last_success_at`, key.Account, key.Client).
			Scan(&st.Failures, &lastFailure, &blocked, &success)
		if err != nil {
			return fmt.Errorf("lock login throttle: %w", err)
		}
		err = tx.QueryRow(ctx, `
			INSERT INTO login_throttle_accounts AS a (account) VALUES ($1)
			ON CONFLICT (account) DO UPDATE SET failures = a.failures
			RETURNING failures, window_start`, key.Account).
			Scan(&st.AccountFailures, &windowAt)
		if err != nil {
			return fmt.Errorf("lock account login throttle: %w", err)
		}
		st.LastFailure, st.BlockedUntil, st.LastSuccess, st.AccountWindowStart = deref(lastFailure), deref(blocked), deref(success), deref(windowAt)

		update(&st)

		if _, err := tx.Exec(ctx, `
			UPDATE login_throttle SET failures = $3, last_failure_at = $4, blocked_until = $5, last_success_at = $6
			WHERE account = $1 AND client = $2`,
			key.Account, key.Client, st.Failures, nullTime(st.LastFailure), nullTime(st.BlockedUntil), nullTime(st.LastSuccess)); err != nil {
			return fmt.Errorf("update login throttle: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE login_throttle_accounts SET failures = $2, window_start = $3 WHERE account = $1`,
			key.Account, st.AccountFailures, nullTime(st.AccountWindowStart)); err != nil {
			return fmt.Errorf("update account login throttle: %w", err)
		}
		return nil
	})
}

// DeleteStaleLoginThrottle removes up to DeleteBatch throttle rows of each kind that no longer
// change any decision: no failure within the policy's ForgetAfter, no back-off still running and
// no success within FamiliarFor; account rows whose window has ended. It returns how many went.
func (s *Store) DeleteStaleLoginThrottle(ctx context.Context, now time.Time, p auth.ThrottlePolicy) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM login_throttle WHERE (account, client) IN (
			SELECT account, client FROM login_throttle
			WHERE (last_failure_at IS NULL OR last_failure_at < $1)
			  AND (blocked_until IS NULL OR blocked_until < $2)
			  AND (last_success_at IS NULL OR last_success_at < $3)
			LIMIT $4)`, now.Add(-p.ForgetAfter), now, now.Add(-p.FamiliarFor), DeleteBatch)
	if err != nil {
		return 0, fmt.Errorf("delete stale login throttle: %w", err)
	}
	acc, err := s.pool.Exec(ctx, `
		DELETE FROM login_throttle_accounts WHERE account IN (
			SELECT account FROM login_throttle_accounts WHERE window_start IS NULL OR window_start < $1 LIMIT $2)`,
		now.Add(-p.AccountWindow), DeleteBatch)
	if err != nil {
		return 0, fmt.Errorf("delete stale account login throttle: %w", err)
	}
	return tag.RowsAffected() + acc.RowsAffected(), nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// DeleteBatch is the most sessions DeleteExpired removes per call, so no call holds many locks.
const DeleteBatch = 1000

// DeleteExpired removes up to DeleteBatch sessions whose newest refresh token expired more than
// grace ago (with all their tokens), and returns how many went. Revoked sessions go the same way once expired: until
// then their tokens are kept so reuse is still recognised.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, grace time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM sessions WHERE id IN (
			SELECT id FROM sessions WHERE expires_at < $1 LIMIT $2)`, now.Add(-grace), DeleteBatch)
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM oauth_flows WHERE expires_at < $1`, now); err != nil {
		return 0, fmt.Errorf("delete expired oauth flows: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM passkey_ceremonies WHERE expires_at < $1`, now); err != nil {
		return 0, fmt.Errorf("delete expired passkey ceremonies: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM password_resets WHERE expires_at < $1`, now.Add(-grace)); err != nil {
		return 0, fmt.Errorf("delete expired password resets: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM email_verifications WHERE expires_at < $1`, now.Add(-grace)); err != nil {
		return 0, fmt.Errorf("delete expired verification links: %w", err)
	}
	// A budget row whose window ended a day ago changes no decision: the next request starts anew.
	if _, err := s.pool.Exec(ctx, `DELETE FROM email_request_budget WHERE window_start < $1`, now.Add(-grace)); err != nil {
		return 0, fmt.Errorf("delete old password reset budgets: %w", err)
	}
	return tag.RowsAffected(), nil
}

// SaveOAuthFlow implements auth.OAuthStore.
func (s *Store) SaveOAuthFlow(ctx context.Context, f auth.OAuthFlow) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO oauth_flows (state_hash, provider, redirect_uri, code_verifier, nonce, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		f.StateHash, f.Provider, f.RedirectURI, f.CodeVerifier, f.Nonce, f.CreatedAt, f.ExpiresAt)
	if err != nil {
		return fmt.Errorf("insert oauth flow: %w", err)
	}
	return nil
}

// TakeOAuthFlow implements auth.OAuthStore.
func (s *Store) TakeOAuthFlow(ctx context.Context, stateHash []byte, now time.Time) (auth.OAuthFlow, error) {
	f := auth.OAuthFlow{StateHash: stateHash}
	err := s.pool.QueryRow(ctx, `
		DELETE FROM oauth_flows WHERE state_hash = $1
		RETURNING provider, redirect_uri, code_verifier, nonce, created_at, expires_at`, stateHash).
		Scan(&f.Provider, &f.RedirectURI, &f.CodeVerifier, &f.Nonce, &f.CreatedAt, &f.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, domainerr.ErrNotFound
	}
	if err != nil {
		return f, fmt.Errorf("take oauth flow: %w", err)
	}
	if !now.Before(f.ExpiresAt) {
		return f, domainerr.ErrNotFound
	}
	return f, nil
}

// IdentityUser implements auth.OAuthStore.
func (s *Store) IdentityUser(ctx context.Context, provider, subject string) (string, error) {
	var userID string
	err := s.pool.QueryRow(ctx, `SELECT user_id FROM oauth_identities WHERE provider = $1 AND subject = $2`, provider, subject).Scan(&userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", domainerr.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("select oauth identity: %w", err)
	}
	return userID, nil
}

// EmailRegistered implements auth.OAuthStore.
func (s *Store) EmailRegistered(ctx context.Context, email string) (bool, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE email = $1)`, email).Scan(&exists); err != nil {
		return false, fmt.Errorf("look up email: %w", err)
	}
	return exists, nil
}

// isInvalidText reports a value Postgres could not parse (a user id that is not a UUID).
func isInvalidText(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "22P02"
}

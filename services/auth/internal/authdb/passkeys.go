package authdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/pg"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

// SavePasskeyCeremony implements auth.PasskeyStore.
func (s *Store) SavePasskeyCeremony(ctx context.Context, c auth.PasskeyCeremony) error {
	var userID *string
	if c.UserID != "" {
		userID = &c.UserID
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO passkey_ceremonies (id_hash, kind, user_id, session, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, c.IDHash, c.Kind, userID, string(c.Session), c.CreatedAt, c.ExpiresAt)
	if err != nil {
		return fmt.Errorf("insert passkey ceremony: %w", err)
	}
	return nil
}

// TakePasskeyCeremony implements auth.PasskeyStore. A ceremony of another kind is left in place.
func (s *Store) TakePasskeyCeremony(ctx context.Context, idHash []byte, kind string, now time.Time) (auth.PasskeyCeremony, error) {
	c := auth.PasskeyCeremony{IDHash: idHash, Kind: kind}
	var session string
	err := s.pool.QueryRow(ctx, `
		DELETE FROM passkey_ceremonies WHERE id_hash = $1 AND kind = $2
		RETURNING coalesce(user_id::text, ''), session, created_at, expires_at`, idHash, kind).
		Scan(&c.UserID, &session, &c.CreatedAt, &c.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, domainerr.ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("take passkey ceremony: %w", err)
	}
	c.Session = []byte(session)
	c.CreatedAt, c.ExpiresAt = c.CreatedAt.UTC(), c.ExpiresAt.UTC()
	if !now.Before(c.ExpiresAt) {
		return c, domainerr.ErrNotFound
	}
	return c, nil
}

// AddPasskey implements auth.PasskeyStore.
func (s *Store) AddPasskey(ctx context.Context, p auth.Passkey) error {
	transports := p.Transports
	if transports == nil {
		transports = []string{}
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO passkeys (id, user_id, credential_id, public_key, attestation_type, attestation_format,
		                      transports, aaguid, sign_count, flags, name, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		p.ID, p.UserID, p.CredentialID, p.PublicKey, p.AttestationType, p.AttestationFormat,
		transports, p.AAGUID, int64(p.SignCount), int16(p.Flags), p.Name, p.CreatedAt)
	if pg.IsUniqueViolation(err, "passkeys_credential_id_key") {
		return auth.ErrPasskeyTaken
	}
	if err != nil {
		return fmt.Errorf("insert passkey: %w", err)
	}
	return nil
}

const passkeyColumns = `id, user_id, credential_id, public_key, attestation_type, attestation_format,
	transports, aaguid, sign_count, flags, name, created_at, last_used_at`

func scanPasskey(row pgx.Row) (auth.Passkey, error) {
	var (
		p        auth.Passkey
		count    int64
		flags    int16
		lastUsed *time.Time
	)
	err := row.Scan(&p.ID, &p.UserID, &p.CredentialID, &p.PublicKey, &p.AttestationType, &p.AttestationFormat,
		&p.Transports, &p.AAGUID, &count, &flags, &p.Name, &p.CreatedAt, &lastUsed)
	p.SignCount = uint32(count) // the column's CHECK keeps it within uint32
	p.Flags = byte(flags)       // one octet, as stored
	p.CreatedAt = p.CreatedAt.UTC()
	p.LastUsedAt = deref(lastUsed)
	return p, err
}

// Passkeys implements auth.PasskeyStore.
func (s *Store) Passkeys(ctx context.Context, userID string) ([]auth.Passkey, error) {
	list, err := pg.QueryAll(ctx, s.pool, scanPasskey, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = $1 ORDER BY created_at DESC, id DESC`, userID)
	if isInvalidText(err) {
		return nil, nil // not a user id: no passkeys
	}
	if err != nil {
		return nil, fmt.Errorf("select passkeys: %w", err)
	}
	return list, nil
}

// PasskeyByCredentialID implements auth.PasskeyStore.
func (s *Store) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (auth.Passkey, error) {
	p, err := scanPasskey(s.pool.QueryRow(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = $1`, credentialID))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, domainerr.ErrNotFound
	}
	if err != nil {
		return p, fmt.Errorf("select passkey: %w", err)
	}
	return p, nil
}

// UsePasskey implements auth.PasskeyStore: the counter check and the update are one statement.
func (s *Store) UsePasskey(ctx context.Context, u auth.PasskeyUse) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE passkeys SET sign_count = $2, flags = $3, last_used_at = $4
		WHERE id = $1 AND (sign_count < $2 OR (sign_count = 0 AND $2 = 0))`,
		u.PasskeyID, int64(u.SignCount), int16(u.Flags), u.At)
	if err != nil {
		return false, fmt.Errorf("update passkey: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// DeletePasskey implements auth.PasskeyStore.
func (s *Store) DeletePasskey(ctx context.Context, userID, passkeyID string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM passkeys WHERE id = $1 AND user_id = $2`, passkeyID, userID)
	if isInvalidText(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("delete passkey: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

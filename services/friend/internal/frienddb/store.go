// Package frienddb keeps the friend service's state in Postgres: its copy of users, the pairs of
// people (locked for every relationship change), friend requests and blocks, and the events
// written to the outbox in the same transaction as each change.
package frienddb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/services/friend/internal/friend"
)

// Store is the Postgres implementation of friend.Store, and the user directory the event
// consumers keep up to date.
type Store struct {
	pool   *pgxpool.Pool
	outbox *events.Outbox
}

var _ friend.Store = (*Store)(nil)

// New returns a store on pool that publishes events through outbox.
func New(pool *pgxpool.Pool, outbox *events.Outbox) *Store { return &Store{pool: pool, outbox: outbox} }

// UserExists implements friend.Store.
func (s *Store) UserExists(ctx context.Context, userID string) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE user_id = $1)`, userID).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up user %s: %w", userID, err)
	}
	return ok, nil
}

// EnsureUser implements friend.Store.
func (s *Store) EnsureUser(ctx context.Context, userID string) error {
	// A deleted user (a call with an access token from before the deletion) gets no row back, and
	// the call is refused: its request or block would have no user row to refer to.
	var deleted bool
	if err := s.pool.QueryRow(ctx, `
		WITH tombstone AS (SELECT EXISTS (SELECT 1 FROM deleted_users WHERE user_id = $1) AS deleted),
		recorded AS (INSERT INTO users (user_id) SELECT $1 FROM tombstone WHERE NOT deleted ON CONFLICT DO NOTHING)
		SELECT deleted FROM tombstone`, userID).Scan(&deleted); err != nil {
		return fmt.Errorf("record user %s: %w", userID, err)
	}
	if deleted {
		return friend.ErrAccountDeleted
	}
	return nil
}

// RequestParties implements friend.Store.
func (s *Store) RequestParties(ctx context.Context, requestID string) (from, to string, found bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT from_user_id::text, to_user_id::text FROM friend_requests WHERE request_id = $1`,
		requestID).Scan(&from, &to)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("load friend request %s: %w", requestID, err)
	}
	return from, to, true, nil
}

// InPair implements friend.Store. One pair's changes run one at a time: a transaction-scoped
// advisory lock on the pair is taken before anything is written, so transactions take their ids
// (which order the pair's events in the outbox) in the order they get the lock — a row lock taken
// after a first write would let queued writers hold ids out of that order (see events.Publish).
// The pair's row is then created on first use and locked FOR UPDATE as well.
func (s *Store) InPair(ctx context.Context, p friend.Pair, fn func(friend.PairTx) error) error {
	return pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "friend-pair:"+p.ID()); err != nil {
			return fmt.Errorf("lock pair %s: %w", p.ID(), err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO pairs (user_lo, user_hi) VALUES ($1, $2) ON CONFLICT DO NOTHING`, p.Lo, p.Hi); err != nil {
			return fmt.Errorf("create pair %s: %w", p.ID(), err)
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM pairs WHERE user_lo = $1 AND user_hi = $2 FOR UPDATE`, p.Lo, p.Hi); err != nil {
			return fmt.Errorf("lock pair %s: %w", p.ID(), err)
		}
		return fn(&pairTx{tx: tx, pair: p, outbox: s.outbox})
	})
}

// Relationship implements friend.Store.
func (s *Store) Relationship(ctx context.Context, p friend.Pair) (friend.Relationship, error) {
	var r friend.Relationship
	err := s.pool.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM pairs WHERE user_lo = $1 AND user_hi = $2 AND friends_since IS NOT NULL),
		       EXISTS (SELECT 1 FROM blocks WHERE (blocker_id = $1 AND blocked_id = $2) OR (blocker_id = $2 AND blocked_id = $1))`,
		p.Lo, p.Hi).Scan(&r.AreFriends, &r.Blocked)
	if err != nil {
		return friend.Relationship{}, fmt.Errorf("read relationship %s: %w", p.ID(), err)
	}
	return r, nil
}

// HasBlocked implements friend.Store.
func (s *Store) HasBlocked(ctx context.Context, blocker, blocked string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM blocks WHERE blocker_id = $1 AND blocked_id = $2)`,
		blocker, blocked).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("read block %s -> %s: %w", blocker, blocked, err)
	}
	return ok, nil
}

// RecordRegistration records a new user from UserRegistered, in the consumer's transaction. The
// nickname asked for at registration is kept only until a ProfileUpdated says the real one. A
// deleted user is not recorded again.
func (s *Store) RecordRegistration(ctx context.Context, tx pgx.Tx, userID, nickname string) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO users (user_id, nickname)
		SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM deleted_users WHERE user_id = $1)
		ON CONFLICT (user_id) DO UPDATE SET nickname = EXCLUDED.nickname, updated_at = now()
		WHERE users.profile_version = 0`, userID, nickname)
	if err != nil {
		return fmt.Errorf("record registration of %s: %w", userID, err)
	}
	return nil
}

// ApplyProfile stores a ProfileUpdated, in the consumer's transaction, unless a newer (or the
// same) version was stored already or the user was deleted; applied says whether it was.
func (s *Store) ApplyProfile(ctx context.Context, tx pgx.Tx, c friend.ProfileChange) (applied bool, err error) {
	tag, err := tx.Exec(ctx, `
		INSERT INTO users (user_id, nickname, avatar_file_id, avatar_thumbnail_url, profile_version)
		SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM deleted_users WHERE user_id = $1)
		ON CONFLICT (user_id) DO UPDATE SET nickname = EXCLUDED.nickname, avatar_file_id = EXCLUDED.avatar_file_id,
			avatar_thumbnail_url = EXCLUDED.avatar_thumbnail_url, profile_version = EXCLUDED.profile_version, updated_at = now()
		WHERE users.profile_version < EXCLUDED.profile_version`,
		c.UserID, c.Nickname, nullable(c.AvatarFileID), c.AvatarThumbnailURL, c.Version)
	if err != nil {
		return false, fmt.Errorf("apply profile version %d of %s: %w", c.Version, c.UserID, err)
	}
	return tag.RowsAffected() == 1, nil
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// pairTx implements friend.PairTx inside InPair's transaction.
type pairTx struct {
	tx     pgx.Tx
	pair   friend.Pair
	outbox *events.Outbox
}

const requestColumns = `r.request_id::text, r.from_user_id::text, r.to_user_id::text, r.status, r.hidden, r.created_at`

func scanRequest(row pgx.Row, extra ...any) (friend.Request, error) {
	var r friend.Request
	if err := row.Scan(append([]any{&r.ID, &r.From, &r.To, &r.Status, &r.Hidden, &r.CreatedAt}, extra...)...); err != nil {
		return friend.Request{}, err
	}
	r.CreatedAt = r.CreatedAt.UTC()
	return r, nil
}

func (t *pairTx) State(ctx context.Context) (friend.PairState, error) {
	var st friend.PairState
	var (
		since                *time.Time
		id, from, to, status *string
		hidden               *bool
		created              *time.Time
	)
	err := t.tx.QueryRow(ctx, `
		SELECT p.friends_since,
		       EXISTS (SELECT 1 FROM blocks WHERE blocker_id = p.user_lo AND blocked_id = p.user_hi),
		       EXISTS (SELECT 1 FROM blocks WHERE blocker_id = p.user_hi AND blocked_id = p.user_lo),
		       r.request_id::text, r.from_user_id::text, r.to_user_id::text, r.status, r.hidden, r.created_at
		FROM pairs p
		LEFT JOIN friend_requests r ON r.status = 'pending'
			AND least(r.from_user_id, r.to_user_id) = p.user_lo AND greatest(r.from_user_id, r.to_user_id) = p.user_hi
		WHERE p.user_lo = $1 AND p.user_hi = $2`, t.pair.Lo, t.pair.Hi).
		Scan(&since, &st.LoBlocksHi, &st.HiBlocksLo, &id, &from, &to, &status, &hidden, &created)
	if err != nil {
		return friend.PairState{}, fmt.Errorf("read pair %s: %w", t.pair.ID(), err)
	}
	if since != nil {
		s := since.UTC()
		st.FriendsSince = &s
	}
	if id != nil {
		st.Pending = &friend.Request{ID: *id, From: *from, To: *to, Status: friend.RequestStatus(*status), Hidden: *hidden, CreatedAt: created.UTC()}
	}
	return st, nil
}

func (t *pairTx) Request(ctx context.Context, requestID string) (friend.Request, error) {
	r, err := scanRequest(t.tx.QueryRow(ctx, `SELECT `+requestColumns+` FROM friend_requests r WHERE r.request_id = $1`, requestID))
	if err != nil {
		return friend.Request{}, fmt.Errorf("load friend request %s: %w", requestID, err)
	}
	return r, nil
}

func (t *pairTx) User(ctx context.Context, userID string) (friend.UserSummary, error) {
	u := friend.UserSummary{UserID: userID}
	err := t.tx.QueryRow(ctx, `SELECT nickname, coalesce(avatar_file_id::text, ''), avatar_thumbnail_url FROM users WHERE user_id = $1`, userID).
		Scan(&u.Nickname, &u.AvatarFileID, &u.AvatarThumbnailURL)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return friend.UserSummary{}, fmt.Errorf("load user %s: %w", userID, err)
	}
	return u, nil
}

func (t *pairTx) SentSince(ctx context.Context, userID string, since time.Time) (int, error) {
	var n int
	err := t.tx.QueryRow(ctx, `SELECT count(*) FROM friend_requests WHERE from_user_id = $1 AND created_at >= $2`, userID, since).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count requests of %s: %w", userID, err)
	}
	return n, nil
}

func (t *pairTx) CreateRequest(ctx context.Context, r friend.Request) error {
	_, err := t.tx.Exec(ctx, `
		INSERT INTO friend_requests (request_id, from_user_id, to_user_id, status, hidden, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, r.ID, r.From, r.To, r.Status, r.Hidden, r.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert friend request %s -> %s: %w", r.From, r.To, err)
	}
	return nil
}

func (t *pairTx) ResolveRequest(ctx context.Context, requestID string, status friend.RequestStatus, at time.Time) error {
	tag, err := t.tx.Exec(ctx, `UPDATE friend_requests SET status = $2, resolved_at = $3 WHERE request_id = $1 AND status = 'pending'`,
		requestID, status, at)
	if err != nil {
		return fmt.Errorf("mark friend request %s %s: %w", requestID, status, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("mark friend request %s %s: it is not pending", requestID, status)
	}
	return nil
}

func (t *pairTx) MakeFriends(ctx context.Context, requestID string, at time.Time) error {
	tag, err := t.tx.Exec(ctx, `
		UPDATE pairs SET friends_since = $3, friend_request_id = $4
		WHERE user_lo = $1 AND user_hi = $2 AND friends_since IS NULL`, t.pair.Lo, t.pair.Hi, at, requestID)
	if err != nil {
		return fmt.Errorf("make %s friends: %w", t.pair.ID(), err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("make %s friends: they are friends already", t.pair.ID())
	}
	return nil
}

func (t *pairTx) EndFriendship(ctx context.Context) error {
	_, err := t.tx.Exec(ctx, `UPDATE pairs SET friends_since = NULL, friend_request_id = NULL WHERE user_lo = $1 AND user_hi = $2`,
		t.pair.Lo, t.pair.Hi)
	if err != nil {
		return fmt.Errorf("end friendship %s: %w", t.pair.ID(), err)
	}
	return nil
}

func (t *pairTx) Block(ctx context.Context, blocker string, at time.Time) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		blocker, t.pair.Other(blocker), at)
	if err != nil {
		return fmt.Errorf("block %s -> %s: %w", blocker, t.pair.Other(blocker), err)
	}
	return nil
}

func (t *pairTx) Unblock(ctx context.Context, blocker string) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2`, blocker, t.pair.Other(blocker))
	if err != nil {
		return fmt.Errorf("unblock %s -> %s: %w", blocker, t.pair.Other(blocker), err)
	}
	return nil
}

func (t *pairTx) Publish(ctx context.Context, ev friend.Event) error {
	key, msg, err := eventMessage(t.pair, ev)
	if err != nil {
		return err
	}
	if _, err := t.outbox.Publish(ctx, t.tx, topicFriend, key, msg); err != nil {
		return err
	}
	return nil
}

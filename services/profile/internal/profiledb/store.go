// Package profiledb keeps profiles in Postgres: the profiles table, nickname uniqueness, search,
// and the ProfileUpdated events written to the outbox in the same transaction as each change.
package profiledb

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/services/profile/internal/profile"
)

// Store is the Postgres implementation of profile.Store.
type Store struct {
	pool   *pgxpool.Pool
	outbox *events.Outbox
	// FuzzyThreshold is the least trigram similarity (0..1) for a fuzzy search match.
	FuzzyThreshold float64
}

// DefaultFuzzyThreshold admits one-typo matches of short nicknames ("alcie" ~ "alice" is 0.2).
const DefaultFuzzyThreshold = 0.2

// New returns a store on pool that publishes events through outbox.
func New(pool *pgxpool.Pool, outbox *events.Outbox) *Store {
	return &Store{pool: pool, outbox: outbox, FuzzyThreshold: DefaultFuzzyThreshold}
}

const profileColumns = `user_id::text, nickname, nickname_status, requested_nickname, about,
	coalesce(avatar_file_id::text, ''), avatar_url, avatar_thumb64_url, avatar_thumb256_url,
	version, created_at, updated_at`

func scanProfile(row pgx.Row, extra ...any) (profile.Profile, error) {
	var p profile.Profile
	var a profile.Avatar
	dest := []any{&p.UserID, &p.Nickname, &p.NicknameStatus, &p.RequestedNickname, &p.About,
		&a.FileID, &a.URL, &a.Thumbnail64URL, &a.Thumbnail256URL,
		&p.Version, &p.CreatedAt, &p.UpdatedAt}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return profile.Profile{}, err
	}
	if a.FileID != "" {
		p.Avatar = &a
	}
	p.CreatedAt = p.CreatedAt.UTC()
	p.UpdatedAt = p.UpdatedAt.UTC()
	return p, nil
}

// Get returns one profile, or domainerr.ErrNotFound.
func (s *Store) Get(ctx context.Context, userID string) (profile.Profile, error) {
	p, err := scanProfile(s.pool.QueryRow(ctx, `SELECT `+profileColumns+` FROM profiles WHERE user_id = $1`, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return profile.Profile{}, domainerr.Errorf(domainerr.ErrNotFound, "user_id: no profile for %s", userID)
	}
	if err != nil {
		return profile.Profile{}, fmt.Errorf("load profile %s: %w", userID, err)
	}
	return p, nil
}

// GetMany returns the profiles that exist among userIDs.
func (s *Store) GetMany(ctx context.Context, userIDs []string) ([]profile.Profile, error) {
	ps, err := pg.QueryAll(ctx, s.pool, func(r pgx.Row) (profile.Profile, error) { return scanProfile(r) }, `SELECT `+profileColumns+` FROM profiles WHERE user_id = ANY($1::uuid[])`, userIDs)
	if err != nil {
		return nil, fmt.Errorf("load profiles: %w", err)
	}
	return ps, nil
}

// NicknameOwner returns the user holding nick (ignoring case), or "".
func (s *Store) NicknameOwner(ctx context.Context, nick string) (string, error) {
	var owner string
	err := s.pool.QueryRow(ctx, `SELECT user_id::text FROM profiles WHERE lower(nickname) COLLATE "C" = lower($1)`, nick).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up nickname: %w", err)
	}
	return owner, nil
}

// Update implements profile.Store: lock, change, bump the version, publish ProfileUpdated, run
// beforeCommit, commit. A change that alters nothing writes nothing and publishes nothing.
func (s *Store) Update(ctx context.Context, userID string, change func(*profile.Profile), beforeCommit func(context.Context, profile.Profile) error) (profile.Profile, error) {
	var out profile.Profile
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		old, err := scanProfile(tx.QueryRow(ctx, `SELECT `+profileColumns+` FROM profiles WHERE user_id = $1 FOR UPDATE`, userID))
		if errors.Is(err, pgx.ErrNoRows) {
			return profile.ErrOwnProfileMissing
		}
		if err != nil {
			return fmt.Errorf("lock profile: %w", err)
		}
		p := old
		if old.Avatar != nil {
			a := *old.Avatar
			p.Avatar = &a
		}
		change(&p)
		if sameState(old, p) {
			out = old
			return nil
		}
		var a profile.Avatar
		if p.Avatar != nil {
			a = *p.Avatar
		}
		err = tx.QueryRow(ctx, `UPDATE profiles SET nickname = $2, nickname_status = $3, requested_nickname = $4,
				about = $5, avatar_file_id = nullif($6, '')::uuid, avatar_url = $7, avatar_thumb64_url = $8,
				avatar_thumb256_url = $9, version = version + 1, updated_at = now()
			WHERE user_id = $1 RETURNING version, updated_at`,
			userID, p.Nickname, p.NicknameStatus, p.RequestedNickname, p.About,
			a.FileID, a.URL, a.Thumbnail64URL, a.Thumbnail256URL).Scan(&p.Version, &p.UpdatedAt)
		if pg.IsUniqueViolation(err, "profiles_nickname_lower_key") {
			return profile.ErrNicknameTaken
		}
		if err != nil {
			return fmt.Errorf("update profile: %w", err)
		}
		p.UpdatedAt = p.UpdatedAt.UTC()
		if err := s.publish(ctx, tx, p, false); err != nil {
			return err
		}
		if err := beforeCommit(ctx, p); err != nil {
			return err
		}
		out = p
		return nil
	})
	if err != nil {
		return profile.Profile{}, err
	}
	return out, nil
}

func sameState(a, b profile.Profile) bool {
	if (a.Avatar == nil) != (b.Avatar == nil) || (a.Avatar != nil && *a.Avatar != *b.Avatar) {
		return false
	}
	return a.Nickname == b.Nickname && a.NicknameStatus == b.NicknameStatus &&
		a.RequestedNickname == b.RequestedNickname && a.About == b.About
}

func (s *Store) publish(ctx context.Context, tx pgx.Tx, p profile.Profile, created bool) error {
	ev := &eventsv1.ProfileUpdated{
		UserId:    p.UserID,
		Nickname:  p.Nickname,
		About:     p.About,
		Version:   p.Version,
		UpdatedAt: timestamppb.New(p.UpdatedAt),
		Created:   created,
	}
	if p.Avatar != nil {
		// The thumbnail URL is the one the media service gave for this file (stored with it), so
		// consumers show it as it is and never derive one from the file id.
		ev.AvatarFileId, ev.AvatarThumbnailUrl = p.Avatar.FileID, p.Avatar.Thumbnail64URL
	}
	if _, err := s.outbox.Publish(ctx, tx, topics.Profile, p.UserID, ev); err != nil {
		return fmt.Errorf("publish ProfileUpdated: %w", err)
	}
	return nil
}

// CreateFromRegistration creates the profile of a newly registered user inside tx (the event
// consumer's transaction, which also records the event in the inbox) and publishes
// ProfileUpdated(created) in it. It is idempotent per user: when the profile exists it is returned
// unchanged with created false; for a deleted user (DeleteUser) nothing is created and the zero
// Profile is returned with created false.
//
// The requested nickname is given when it is valid and free. Otherwise a free nickname is derived
// from it ("alice" -> "alice_4821") and the profile says NicknameRequestedTaken with the requested
// nickname, so its owner is shown what happened and invited to choose another; never a silent
// substitute.
func (s *Store) CreateFromRegistration(ctx context.Context, tx pgx.Tx, reg profile.Registration) (profile.Profile, bool, error) {
	// A deleted account's registration handled late (redelivered under another event id) creates
	// nothing.
	if gone, err := pg.DeletedUsers.Has(ctx, tx, reg.UserID); err != nil || gone {
		return profile.Profile{}, false, err
	}
	p, err := scanProfile(tx.QueryRow(ctx, `SELECT `+profileColumns+` FROM profiles WHERE user_id = $1`, reg.UserID))
	if err == nil {
		return p, false, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return profile.Profile{}, false, fmt.Errorf("look up profile: %w", err)
	}

	insert := func(nick string, status profile.NicknameStatus, requested string) (profile.Profile, bool, error) {
		p, err := scanProfile(tx.QueryRow(ctx, `INSERT INTO profiles (user_id, nickname, nickname_status, requested_nickname)
			VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING `+profileColumns,
			reg.UserID, nick, status, requested))
		if errors.Is(err, pgx.ErrNoRows) {
			return profile.Profile{}, false, nil
		}
		if err != nil {
			return profile.Profile{}, false, fmt.Errorf("insert profile: %w", err)
		}
		return p, true, nil
	}

	created, ok := profile.Profile{}, false
	if profile.ValidateNickname(reg.RequestedNickname) == nil {
		if created, ok, err = insert(reg.RequestedNickname, profile.NicknameChosen, ""); err != nil {
			return profile.Profile{}, false, err
		}
	}
	// Taken (or not valid here): try derived nicknames, a batch of candidates at a time, with more
	// digits as the attempts go on so a crowded base still finds a free one quickly.
	for attempt := 0; !ok && attempt < 12; attempt++ {
		digits := 4 + 2*(attempt/4)
		candidates := make([]string, 8)
		for i := range candidates {
			candidates[i] = profile.DerivedNickname(reg.RequestedNickname, digits, rand.IntN)
		}
		var free string
		err := tx.QueryRow(ctx, `SELECT c FROM unnest($1::text[]) AS c
			WHERE NOT EXISTS (SELECT 1 FROM profiles WHERE lower(nickname) COLLATE "C" = lower(c)) LIMIT 1`, candidates).Scan(&free)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return profile.Profile{}, false, fmt.Errorf("find a free nickname: %w", err)
		}
		if created, ok, err = insert(free, profile.NicknameRequestedTaken, reg.RequestedNickname); err != nil {
			return profile.Profile{}, false, err
		}
		if !ok {
			// Lost a race for that nickname, or the profile was created meanwhile.
			if p, err := scanProfile(tx.QueryRow(ctx, `SELECT `+profileColumns+` FROM profiles WHERE user_id = $1`, reg.UserID)); err == nil {
				return p, false, nil
			}
		}
	}
	if !ok {
		return profile.Profile{}, false, fmt.Errorf("no free nickname derived from %q", reg.RequestedNickname)
	}
	if err := s.publish(ctx, tx, created, true); err != nil {
		return profile.Profile{}, false, err
	}
	return created, true, nil
}

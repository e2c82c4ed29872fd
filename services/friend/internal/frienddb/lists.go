package frienddb

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/services/friend/internal/friend"
)

// Lists page with keyset cursors: each query fetches one row more than the page to learn whether
// another page follows, and continues strictly after the cursor's ordering key.

// ListFriends implements friend.Store. A person's friends sit on either side of their pairs; the
// order is the friend's nickname compared byte-wise after lower-casing (nicknames are ASCII), then
// the user id.
func (s *Store) ListFriends(ctx context.Context, userID string, after *friend.FriendsCursor, limit int) ([]friend.Friend, *friend.FriendsCursor, error) {
	var afterKey, afterID *string
	if after != nil {
		afterKey, afterID = &after.NicknameKey, &after.UserID
	}
	var keys []string
	scan := func(r pgx.Row) (friend.Friend, error) {
		var f friend.Friend
		var key string
		if err := r.Scan(&f.User.UserID, &f.User.Nickname, &f.User.AvatarFileID, &f.User.AvatarThumbnailURL, &f.Since, &key); err != nil {
			return friend.Friend{}, err
		}
		f.Since = f.Since.UTC()
		keys = append(keys, key)
		return f, nil
	}
	fs, err := pg.QueryAll(ctx, s.pool, scan, `
		SELECT u.user_id::text, u.nickname, coalesce(u.avatar_file_id::text, ''), u.avatar_thumbnail_url, f.since, lower(u.nickname)
		FROM (SELECT user_hi AS other, friends_since AS since FROM pairs WHERE user_lo = $1 AND friends_since IS NOT NULL
		      UNION ALL
		      SELECT user_lo, friends_since FROM pairs WHERE user_hi = $1 AND friends_since IS NOT NULL) f
		JOIN users u ON u.user_id = f.other
		WHERE $2::text IS NULL OR (lower(u.nickname) COLLATE "C", u.user_id) > ($2::text COLLATE "C", $3::uuid)
		ORDER BY lower(u.nickname) COLLATE "C", u.user_id
		LIMIT $4`, userID, afterKey, afterID, limit+1)
	if err != nil {
		return nil, nil, fmt.Errorf("list friends of %s: %w", userID, err)
	}
	if len(fs) <= limit {
		return fs, nil, nil
	}
	last := limit - 1
	return fs[:limit], &friend.FriendsCursor{NicknameKey: keys[last], UserID: fs[last].User.UserID}, nil
}

// ListRequests implements friend.Store.
func (s *Store) ListRequests(ctx context.Context, userID string, d friend.Direction, after *friend.TimeCursor, limit int) ([]friend.RequestView, *friend.TimeCursor, error) {
	// Incoming requests show their sender and never the hidden ones; outgoing show the recipient,
	// hidden ones included (their sender must not be able to tell).
	filter, otherCol := `r.to_user_id = $1 AND r.status = 'pending' AND NOT r.hidden`, `r.from_user_id`
	if d == friend.Outgoing {
		filter, otherCol = `r.from_user_id = $1 AND r.status = 'pending'`, `r.to_user_id`
	}
	afterTime, afterID := timeCursorArgs(after)
	scan := func(row pgx.Row) (friend.RequestView, error) {
		v := friend.RequestView{Direction: d}
		r, err := scanRequest(row, &v.Other.Nickname, &v.Other.AvatarFileID, &v.Other.AvatarThumbnailURL)
		if err != nil {
			return v, err
		}
		v.Request = r
		v.Other.UserID = r.From
		if d == friend.Outgoing {
			v.Other.UserID = r.To
		}
		return v, nil
	}
	rs, err := pg.QueryAll(ctx, s.pool, scan, `
		SELECT `+requestColumns+`, u.nickname, coalesce(u.avatar_file_id::text, ''), u.avatar_thumbnail_url
		FROM friend_requests r JOIN users u ON u.user_id = `+otherCol+`
		WHERE `+filter+` AND ($2::timestamptz IS NULL OR (r.created_at, r.request_id) < ($2::timestamptz, $3::uuid))
		ORDER BY r.created_at DESC, r.request_id DESC
		LIMIT $4`, userID, afterTime, afterID, limit+1)
	if err != nil {
		return nil, nil, fmt.Errorf("list %s requests of %s: %w", d, userID, err)
	}
	if len(rs) <= limit {
		return rs, nil, nil
	}
	last := rs[limit-1]
	return rs[:limit], &friend.TimeCursor{Time: last.CreatedAt, ID: last.ID}, nil
}

// ListBlocked implements friend.Store.
func (s *Store) ListBlocked(ctx context.Context, userID string, after *friend.TimeCursor, limit int) ([]friend.Blocked, *friend.TimeCursor, error) {
	afterTime, afterID := timeCursorArgs(after)
	scan := func(r pgx.Row) (friend.Blocked, error) {
		var b friend.Blocked
		if err := r.Scan(&b.User.UserID, &b.User.Nickname, &b.User.AvatarFileID, &b.User.AvatarThumbnailURL, &b.BlockedAt); err != nil {
			return b, err
		}
		b.BlockedAt = b.BlockedAt.UTC()
		return b, nil
	}
	bs, err := pg.QueryAll(ctx, s.pool, scan, `
		SELECT u.user_id::text, u.nickname, coalesce(u.avatar_file_id::text, ''), u.avatar_thumbnail_url, b.created_at
		FROM blocks b JOIN users u ON u.user_id = b.blocked_id
		WHERE b.blocker_id = $1 AND ($2::timestamptz IS NULL OR (b.created_at, b.blocked_id) < ($2::timestamptz, $3::uuid))
		ORDER BY b.created_at DESC, b.blocked_id DESC
		LIMIT $4`, userID, afterTime, afterID, limit+1)
	if err != nil {
		return nil, nil, fmt.Errorf("list users blocked by %s: %w", userID, err)
	}
	if len(bs) <= limit {
		return bs, nil, nil
	}
	last := bs[limit-1]
	return bs[:limit], &friend.TimeCursor{Time: last.BlockedAt, ID: last.User.UserID}, nil
}

func timeCursorArgs(c *friend.TimeCursor) (*time.Time, *string) {
	if c == nil {
		return nil, nil
	}
	return &c.Time, &c.ID
}

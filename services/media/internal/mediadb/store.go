// Package mediadb keeps the media service's file metadata in Postgres, with FileUploaded written
// to the transactional outbox in the same transaction that makes a file READY.
package mediadb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/services/media/internal/media"
)

// Store is the Postgres implementation of media.Store.
type Store struct {
	pool   *pgxpool.Pool
	outbox *events.Outbox
}

var _ media.Store = (*Store)(nil)

// New returns a store on pool that publishes events through outbox.
func New(pool *pgxpool.Pool, outbox *events.Outbox) *Store { return &Store{pool: pool, outbox: outbox} }

const columns = `file_id::text, owner_id::text, purpose, status, name, declared_type, declared_size,
	content_type, size_bytes, width, height, thumb_type, coalesce(chat_id::text, ''),
	rejection_reason, rejection_message, created_at, upload_expires_at, coalesce(ready_at, 'epoch'::timestamptz)`

func scan(row pgx.Row) (media.File, error) {
	var f media.File
	var purpose, status, reason string
	err := row.Scan(&f.ID, &f.OwnerID, &purpose, &status, &f.Name, &f.DeclaredType, &f.DeclaredSize,
		&f.ContentType, &f.Size, &f.Width, &f.Height, &f.ThumbType, &f.ChatID,
		&reason, &f.Rejection.Message, &f.CreatedAt, &f.UploadExpiresAt, &f.ReadyAt)
	if err != nil {
		return media.File{}, err
	}
	f.Purpose, f.Status, f.Rejection.Reason = media.Purpose(purpose), media.Status(status), media.Reason(reason)
	if f.ReadyAt.Equal(time.Unix(0, 0)) {
		f.ReadyAt = time.Time{}
	}
	return f, nil
}

// ownerLockClass namespaces the per-owner advisory locks (two-key form: (class, hash of owner)).
const ownerLockClass = 7302

// Create implements media.Store.
func (s *Store) Create(ctx context.Context, f media.File, quota int64, maxPending int, now time.Time) error {
	return pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		// Serialise one owner's reservations so two uploads cannot both fit in the same room.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, ownerLockClass, f.OwnerID); err != nil {
			return fmt.Errorf("lock quota of %s: %w", f.OwnerID, err)
		}
		if gone, err := pg.DeletedUsers.Has(ctx, tx, f.OwnerID); err != nil {
			return err
		} else if gone {
			return ErrOwnerDeleted
		}
		used, reserved, pending, err := usage(ctx, tx, f.OwnerID, now)
		if err != nil {
			return err
		}
		if maxPending > 0 && pending >= int64(maxPending) {
			return domainerr.Errorf(domainerr.ErrResourceExhausted, "too many uploads pending (%d); complete or wait for them to expire (at most %d at once)", pending, maxPending)
		}
		if quota > 0 && used+reserved+f.DeclaredSize > quota {
			need, free := media.HumanBytesPair(f.DeclaredSize, max(quota-used-reserved, 0))
			return domainerr.Errorf(domainerr.ErrResourceExhausted, "storage quota exceeded: this upload needs %s but only %s of your %s are free; delete files to make room",
				need, free, media.HumanBytes(quota))
		}
		var chat any
		if f.ChatID != "" {
			chat = f.ChatID
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO files (file_id, owner_id, purpose, status, name, declared_type, declared_size, chat_id, created_at, upload_expires_at)
			VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9)`,
			f.ID, f.OwnerID, string(f.Purpose), f.Name, f.DeclaredType, f.DeclaredSize, chat, f.CreatedAt, f.UploadExpiresAt)
		if err != nil {
			return fmt.Errorf("insert file %s: %w", f.ID, err)
		}
		return nil
	})
}

func usage(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, owner string, now time.Time) (used, reserved, pending int64, err error) {
	err = q.QueryRow(ctx, `
		SELECT coalesce(sum(size_bytes) FILTER (WHERE status = 'ready'), 0)::bigint,
		       coalesce(sum(declared_size) FILTER (WHERE status = 'pending' AND upload_expires_at > $2), 0)::bigint,
		       count(*) FILTER (WHERE status = 'pending' AND upload_expires_at > $2)
		FROM files WHERE owner_id = $1 AND status IN ('pending', 'ready')`, owner, now).Scan(&used, &reserved, &pending)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("usage of %s: %w", owner, err)
	}
	return used, reserved, pending, nil
}

// Usage implements media.Store.
func (s *Store) Usage(ctx context.Context, owner string, now time.Time) (int64, int64, error) {
	used, reserved, _, err := usage(ctx, s.pool, owner, now)
	return used, reserved, err
}

// Get implements media.Store.
func (s *Store) Get(ctx context.Context, id string) (media.File, error) {
	f, err := scan(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM files WHERE file_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return media.File{}, domainerr.Errorf(domainerr.ErrNotFound, "file_id: no file %s", id)
	}
	if err != nil {
		return media.File{}, fmt.Errorf("get file %s: %w", id, err)
	}
	return f, nil
}

// GetMany implements media.Store.
func (s *Store) GetMany(ctx context.Context, ids []string) ([]media.File, error) {
	files, err := pg.QueryAll(ctx, s.pool, scan, `SELECT `+columns+` FROM files WHERE file_id = ANY($1::uuid[])`, ids)
	if err != nil {
		return nil, fmt.Errorf("get files: %w", err)
	}
	return files, nil
}

// settle runs change on file id inside a transaction that holds the file's row lock, when the file
// is still pending, and returns what change made of it; a file no longer pending comes back as it
// is, and a missing or deleted one as ErrNotFound.
func (s *Store) settle(ctx context.Context, id string, change func(tx pgx.Tx, f media.File) (media.File, error)) (media.File, error) {
	var out media.File
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		f, err := scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM files WHERE file_id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) || err == nil && f.Status == media.StatusDeleted {
			return domainerr.Errorf(domainerr.ErrNotFound, "file_id: no file %s", id)
		}
		if err != nil {
			return fmt.Errorf("lock file %s: %w", id, err)
		}
		if f.Status != media.StatusPending {
			out = f
			return nil
		}
		out, err = change(tx, f)
		return err
	})
	return out, err
}

// MarkReady implements media.Store.
func (s *Store) MarkReady(ctx context.Context, id string, r media.Ready, now time.Time) (media.File, error) {
	return s.settle(ctx, id, func(tx pgx.Tx, f media.File) (media.File, error) {
		// FileUploaded is keyed by owner: serialise the owner's events so that transaction order
		// is commit order for the key (see events.Outbox.Publish).
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, ownerLockClass, f.OwnerID); err != nil {
			return media.File{}, fmt.Errorf("lock owner %s: %w", f.OwnerID, err)
		}
		out, err := scan(tx.QueryRow(ctx, `
			UPDATE files SET status = 'ready', content_type = $2, size_bytes = $3, width = $4, height = $5,
			       thumb_type = $6, ready_at = $7
			WHERE file_id = $1 RETURNING `+columns, id, r.ContentType, r.Size, r.Width, r.Height, r.ThumbType, now))
		if err != nil {
			return media.File{}, fmt.Errorf("mark %s ready: %w", id, err)
		}
		_, err = s.outbox.Publish(ctx, tx, topics.Media, out.OwnerID, &eventsv1.FileUploaded{
			FileId: out.ID, OwnerId: out.OwnerID, Purpose: string(out.Purpose),
			ContentType: out.ContentType, SizeBytes: out.Size, UploadedAt: timestamppb.New(now),
		})
		return out, err
	})
}

// MarkRejected implements media.Store.
func (s *Store) MarkRejected(ctx context.Context, id string, rej media.Rejection, now time.Time) (media.File, error) {
	return s.settle(ctx, id, func(tx pgx.Tx, _ media.File) (media.File, error) {
		out, err := scan(tx.QueryRow(ctx, `
			UPDATE files SET status = 'rejected', rejection_reason = $2, rejection_message = $3, rejected_at = $4
			WHERE file_id = $1 RETURNING `+columns, id, string(rej.Reason), rej.Message, now))
		if err != nil {
			return media.File{}, fmt.Errorf("mark %s rejected: %w", id, err)
		}
		return out, nil
	})
}

// MarkDeleted implements media.Store.
func (s *Store) MarkDeleted(ctx context.Context, owner, id string, now time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE files SET status = 'deleted', deleted_at = $3
		WHERE file_id = $1 AND owner_id = $2 AND status <> 'deleted'`, id, owner, now)
	if err != nil {
		return false, fmt.Errorf("delete file %s: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

func (s *Store) ids(ctx context.Context, what, sql string, args ...any) ([]string, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return ids, nil
}

// ExpiredUploads implements media.Store.
func (s *Store) ExpiredUploads(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	return s.ids(ctx, "list expired uploads", `SELECT file_id::text FROM files
		WHERE NOT upload_swept AND upload_expires_at < $1 AND status = 'pending'
		ORDER BY upload_expires_at LIMIT $2`, cutoff, limit)
}

// RemoveExpired implements media.Store.
func (s *Store) RemoveExpired(ctx context.Context, ids []string, cutoff time.Time) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM files WHERE file_id = ANY($1::uuid[]) AND status = 'pending' AND upload_expires_at < $2`, ids, cutoff)
	if err != nil {
		return fmt.Errorf("remove expired uploads: %w", err)
	}
	return nil
}

// DeletedFiles implements media.Store.
func (s *Store) DeletedFiles(ctx context.Context, limit int) ([]string, error) {
	return s.ids(ctx, "list deleted files", `SELECT file_id::text FROM files WHERE status = 'deleted' ORDER BY deleted_at LIMIT $1`, limit)
}

// RemoveDeleted implements media.Store.
func (s *Store) RemoveDeleted(ctx context.Context, ids []string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM files WHERE file_id = ANY($1::uuid[]) AND status = 'deleted'`, ids); err != nil {
		return fmt.Errorf("remove deleted files: %w", err)
	}
	return nil
}

// UnsweptUploads implements media.Store.
func (s *Store) UnsweptUploads(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	return s.ids(ctx, "list unswept uploads", `SELECT file_id::text FROM files
		WHERE NOT upload_swept AND upload_expires_at < $1 AND status IN ('ready', 'rejected')
		ORDER BY upload_expires_at LIMIT $2`, cutoff, limit)
}

// MarkSwept implements media.Store.
func (s *Store) MarkSwept(ctx context.Context, ids []string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE files SET upload_swept = true WHERE file_id = ANY($1::uuid[])`, ids); err != nil {
		return fmt.Errorf("mark uploads swept: %w", err)
	}
	return nil
}

// PurgeRejected implements media.Store.
func (s *Store) PurgeRejected(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM files WHERE status = 'rejected' AND upload_swept AND rejected_at < $1`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("purge rejected files: %w", err)
	}
	return tag.RowsAffected(), nil
}

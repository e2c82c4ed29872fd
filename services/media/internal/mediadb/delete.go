package mediadb

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/pg"
)

// ErrOwnerDeleted: the caller's account was deleted (an access token from before the deletion).
var ErrOwnerDeleted = domainerr.Errorf(domainerr.ErrPermissionDenied, "your account was deleted")

// DeleteOwner applies an account deletion in tx (the consumer's transaction for UserDeleted):
// the tombstone is recorded and every file of the owner not deleted yet is marked deleted at at,
// under the owner's lock (as Create takes it, so no upload slips in between). Downloads and
// GetFile answer NotFound from the commit on; the janitor then deletes the bytes — upload, file
// and thumbnails — and the rows. It returns how many files it marked; doing it again marks none.
func (s *Store) DeleteOwner(ctx context.Context, tx pgx.Tx, owner string, at time.Time) (int64, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, ownerLockClass, owner); err != nil {
		return 0, fmt.Errorf("lock owner %s: %w", owner, err)
	}
	if err := pg.DeletedUsers.Record(ctx, tx, owner, at); err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, `UPDATE files SET status = 'deleted', deleted_at = $2 WHERE owner_id = $1 AND status <> 'deleted'`,
		owner, at)
	if err != nil {
		return 0, fmt.Errorf("mark files of %s deleted: %w", owner, err)
	}
	return tag.RowsAffected(), nil
}

package pg

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Execer runs a statement: a pgx.Tx, a *pgxpool.Pool, or anything that forwards to one (or queues
// the statement to send it later in the same transaction).
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// RowQuerier runs a query that yields one row: a pgx.Tx, a *pgxpool.Pool or a *pgx.Conn.
type RowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Tombstones is a table of ids deleted for good — a key column and deleted_at (timestamptz) — as
// the migrations create it. A service that keeps copies of what another one owns records the
// tombstone in the transaction that erases its copies, and checks it before writing about an id,
// so that a late event or call does not bring the erased rows back.
type Tombstones struct {
	insertSQL, hasSQL string
}

// DeletedUsers is the deleted_users (user_id, deleted_at) table in which every service that keeps
// copies of users records the accounts deleted for good (UserDeleted).
var DeletedUsers = NewTombstones("deleted_users", "user_id")

// NewTombstones returns the tombstones kept in table, keyed by column; their statements are built
// once, here.
func NewTombstones(table, column string) Tombstones {
	t, c := pgx.Identifier{table}.Sanitize(), pgx.Identifier{column}.Sanitize()
	return Tombstones{
		insertSQL: `INSERT INTO ` + t + ` (` + c + `, deleted_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		hasSQL:    `SELECT EXISTS (SELECT 1 FROM ` + t + ` WHERE ` + c + ` = $1)`,
	}
}

// Record inserts id's tombstone, deleted at at, through e (in the caller's transaction). An id
// recorded before keeps its first time: recording again (a redelivered event) is not an error.
func (t Tombstones) Record(ctx context.Context, e Execer, id string, at time.Time) error {
	if _, err := e.Exec(ctx, t.insertSQL, id, at); err != nil {
		return fmt.Errorf("insert tombstone of %s: %w", id, err)
	}
	return nil
}

// Has reports whether id has a tombstone. Read in the transaction that then writes about id, after
// whatever lock orders it with Record's transaction.
func (t Tombstones) Has(ctx context.Context, q RowQuerier, id string) (bool, error) {
	var found bool
	if err := q.QueryRow(ctx, t.hasSQL, id).Scan(&found); err != nil {
		return false, fmt.Errorf("look up tombstone of %s: %w", id, err)
	}
	return found, nil
}

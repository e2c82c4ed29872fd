package pg_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/platform/pgtest"
)

func TestTombstonesRecordOnceAndAnswerHas(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE "gone things" (thing_id uuid PRIMARY KEY, deleted_at timestamptz NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	stones := pg.NewTombstones("gone things", "thing_id")
	const id, other = "7f1c2f4e-8a55-4d0e-9a43-3f0c0f6d2b11", "0b6e1d3c-1b2a-4f5e-8d7c-6a5b4c3d2e1f"
	first := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	if gone, err := stones.Has(ctx, pool, id); err != nil || gone {
		t.Fatalf("Has before Record = %v, %v; want false", gone, err)
	}
	err := pg.InTx(ctx, pool, func(tx pgx.Tx) error {
		if err := stones.Record(ctx, tx, id, first); err != nil {
			return err
		}
		return stones.Record(ctx, tx, id, first.Add(time.Hour)) // a redelivery
	})
	if err != nil {
		t.Fatalf("Record twice: %v; want no error", err)
	}
	if gone, err := stones.Has(ctx, pool, id); err != nil || !gone {
		t.Fatalf("Has after Record = %v, %v; want true", gone, err)
	}
	if gone, err := stones.Has(ctx, pool, other); err != nil || gone {
		t.Fatalf("Has of another id = %v, %v; want false", gone, err)
	}
	var at time.Time
	if err := pool.QueryRow(ctx, `SELECT deleted_at FROM "gone things" WHERE thing_id = $1`, id).Scan(&at); err != nil || !at.Equal(first) {
		t.Fatalf("deleted_at = %v, %v; want the first Record's %v", at, err, first)
	}

	if err := stones.Record(ctx, pool, "not-a-uuid", first); err == nil {
		t.Fatal("Record of a malformed id: want the database's error")
	}
}

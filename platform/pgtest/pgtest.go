// Package pgtest gives each test a fresh Postgres database of its own, dropped when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleyhq/parley/platform/pg"
)

// ServerURL is the Postgres server tests create their databases on: PARLEY_TEST_DATABASE_URL, else
// the local server with trust auth.
func ServerURL() string {
	if url := os.Getenv("PARLEY_TEST_DATABASE_URL"); url != "" {
		return url
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// Migration is one component's migrations to apply to a new database.
type Migration struct {
	Component string
	Files     fs.FS
}

// New creates a database with a random name, applies the migrations in order and returns a pool on
// it. The database is dropped when the test ends.
func New(t testing.TB, migrations ...Migration) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "parley_test_" + hex.EncodeToString(b[:])
	admin, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		t.Fatalf("pgtest: connect to %s (set PARLEY_TEST_DATABASE_URL): %v", ServerURL(), err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, ServerURL())
		if err != nil {
			t.Errorf("pgtest: connect to drop %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})

	url, err := pg.WithDatabase(ServerURL(), name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	pool, err := pg.Open(ctx, url, 5*time.Second)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close)
	for _, m := range migrations {
		if err := pg.Migrate(ctx, pool, m.Component, m.Files); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	return pool
}

// URL returns the connection string of the database behind pool, for code under test that opens
// its own connections.
func URL(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	url, err := pg.WithDatabase(ServerURL(), pool.Config().ConnConfig.Database)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return url
}

// Count runs sql, a query returning one integer (SELECT count(*) …), on pool and returns it,
// failing the test on an error.
func Count(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
	return n
}

package mediatest

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/services/media/internal/mediadb"
)

// NewDB returns a fresh database with the events and media migrations applied, as the service's
// run applies them.
func NewDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return pgtest.New(t,
		pgtest.Migration{Component: "events", Files: events.Migrations},
		pgtest.Migration{Component: "media", Files: mediadb.Migrations})
}

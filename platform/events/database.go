package events

import (
	"context"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/platform/telemetry"
)

// OpenDatabase is how a service opens its database at start: pg.Open (waiting up to wait for the
// server), then the outbox and inbox tables (Migrations, component "events"), then the service's
// own migrations under its component name. Every service with a database publishes or consumes
// events, so the two always go together; `<svc> migrate` runs this and stops. On an error the
// pool is closed; otherwise the caller closes it. With tel, the pool's statements are traced and
// its statistics published (Telemetry.ConfigurePool, ObservePool).
func OpenDatabase(ctx context.Context, url string, wait time.Duration, component string, migrations fs.FS, tel *telemetry.Telemetry) (*pgxpool.Pool, error) {
	pool, err := pg.Open(ctx, url, wait, tel.ConfigurePool)
	if err != nil {
		return nil, err
	}
	tel.ObservePool(pool)
	if err := pg.Migrate(ctx, pool, "events", Migrations); err != nil {
		pool.Close()
		return nil, err
	}
	if err := pg.Migrate(ctx, pool, component, migrations); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

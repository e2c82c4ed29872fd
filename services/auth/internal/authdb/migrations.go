package authdb

import (
	"embed"

	"github.com/parleyhq/parley/platform/pg"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the auth service's schema migrations: platform/startup applies them (after
// events.Migrations) under the service's name, "auth"; tests through pgtest.Migration.
var Migrations = pg.MigrationsDir(migrationFiles)

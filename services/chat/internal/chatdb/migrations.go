package chatdb

import (
	"embed"

	"github.com/parleyhq/parley/platform/pg"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the chat service's schema migrations: platform/startup applies them (after
// events.Migrations) under the service's name, "chat"; tests through pgtest.Migration.
var Migrations = pg.MigrationsDir(migrationFiles)

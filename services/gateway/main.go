// Command gateway is Parley's public entry point: it authenticates, rate-limits and forwards
// /api/<package>.<Service>/<Method> calls to the services and serves the web client.
package main

import (
	"context"
	"log/slog"

	"github.com/parleyhq/parley/platform/server"
)

func main() {
	// The gateway takes no arguments (it has no migrations) and ignores any it is given.
	server.Main("gateway", func(ctx context.Context, logger *slog.Logger, _ []string) error {
		return run(ctx, logger)
	})
}

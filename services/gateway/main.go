// Command gateway is Parley's public entry point: it authenticates, rate-limits and forwards
// /api/<package>.<Service>/<Method> calls to the services and serves the web client.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/parleyhq/parley/platform/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger, flush := logging.New("gateway", os.Getenv("LOG_FORMAT"), os.Getenv("LOG_LEVEL"))
	defer flush()
	if err := run(ctx, logger); err != nil { // an error is written at once
		logger.Error("gateway stopped", "error", err)
		stop()
		os.Exit(1) // stop() ran above; the error flushed the log
	}
}

// Command friend runs the friend service: friend requests, friendships and blocks.
//
//	friend          serve (applies pending migrations first)
//	friend migrate  apply pending migrations and exit
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/parleyhq/parley/platform/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	logger, flush := logging.New("friend", os.Getenv("LOG_FORMAT"), os.Getenv("LOG_LEVEL"))
	err := run(ctx, logger, os.Args[1:])
	stop()
	flush() // an error below is written at once
	if err != nil {
		logger.Error("friend failed", slog.Any("error", err))
		os.Exit(1)
	}
}

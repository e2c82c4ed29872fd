// Command media runs the media service: avatars and chat attachments in S3, checked on upload.
//
//	media          serve (applies pending migrations first)
//	media migrate  apply pending migrations and exit
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
	logger, flush := logging.New("media", os.Getenv("LOG_FORMAT"), os.Getenv("LOG_LEVEL"))
	err := run(ctx, logger, os.Args[1:])
	stop()
	flush() // an error below is written at once
	if err != nil {
		logger.Error("media failed", slog.Any("error", err))
		os.Exit(1)
	}
}

// Command chat runs the chat service: one-to-one chats between friends, their messages and read
// cursors.
//
//	chat          serve (applies pending migrations first)
//	chat migrate  apply pending migrations and exit
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
	logger, flush := logging.New("chat", os.Getenv("LOG_FORMAT"), os.Getenv("LOG_LEVEL"))
	err := run(ctx, logger, os.Args[1:])
	stop()
	flush() // an error below is written at once
	if err != nil {
		logger.Error("chat failed", slog.Any("error", err))
		os.Exit(1)
	}
}

package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/parleyhq/parley/platform/logging"
)

// Main is the whole of a service's main function: `func main() { server.Main("chat", run) }`.
// It builds the service's logger (platform/logging, LOG_FORMAT and LOG_LEVEL), calls run with a
// context that ends on SIGINT or SIGTERM and the command-line arguments after the program name,
// flushes the log, and exits with status 1 after logging "<service> failed" when run returns an
// error. run returns errors and never exits itself.
func Main(service string, run func(ctx context.Context, logger *slog.Logger, args []string) error) {
	logger, flush := logging.New(service, os.Getenv("LOG_FORMAT"), os.Getenv("LOG_LEVEL"))
	if code := runMain(service, logger, flush, os.Args[1:], run); code != 0 {
		os.Exit(code)
	}
}

// runMain is Main after the logger is built, returning the exit status instead of exiting.
func runMain(service string, logger *slog.Logger, flush func(), args []string,
	run func(context.Context, *slog.Logger, []string) error,
) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, logger, args)
	stop()
	flush() // an error below is written at once
	if err != nil {
		logger.Error(service+" failed", slog.Any("error", err))
		return 1
	}
	return 0
}

// MigrateOnly reads a service's command line: no arguments serve; the one argument "migrate"
// applies the migrations and exits (operators run it before a rollout). Anything else is an error
// naming the usage.
func MigrateOnly(service string, args []string) (bool, error) {
	switch {
	case len(args) == 0:
		return false, nil
	case len(args) == 1 && args[0] == "migrate":
		return true, nil
	}
	return false, fmt.Errorf("unknown arguments %q: usage: %s [migrate]", args, service)
}

// Package command is the main function the deploy commands (cmd/…) share.
package command

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// Main is the whole of a deploy command's main function: `func main() { command.Main("images", run) }`.
// It calls run with a context that ends on SIGINT or SIGTERM, a text logger on stderr, stdout and
// the arguments after the program name, and exits with status 1 after logging "<name> failed"
// when run returns an error.
func Main(name string, run func(ctx context.Context, logger *slog.Logger, stdout io.Writer, args []string) error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, logger, os.Stdout, os.Args[1:])
	stop()
	if err != nil {
		logger.Error(name+" failed", slog.Any("error", err))
		os.Exit(1)
	}
}

// Command manifests renders every kustomization under deploy/kubernetes into a directory and
// checks each object against the Kubernetes schemas, offline: `make manifests` (docs/deploy.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/parleyhq/parley/deploy/internal/command"
	"github.com/parleyhq/parley/deploy/manifests"
)

func main() { command.Main("manifests", run) }

// run checks the manifests and writes kubeconform's summary of each kustomization to stdout.
func run(ctx context.Context, _ *slog.Logger, stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("manifests", flag.ContinueOnError)
	root := fs.String("root", "..", "the repository")
	out := fs.String("out", "../.build/manifests", "directory for the rendered manifests")
	if err := fs.Parse(args); err != nil {
		return err
	}
	reports, err := manifests.Check(ctx, *root, *out)
	for _, r := range reports {
		fmt.Fprintln(stdout, r)
	}
	if err == nil {
		fmt.Fprintf(stdout, "rendered into %s\n", *out)
	}
	return err
}

// Command k8s-schemas writes the Kubernetes JSON schemas the manifests are validated against
// (package k8sschema) into a directory, from the pinned k8s.io/kubernetes module.
package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/parleyhq/parley/deploy/internal/command"
	"github.com/parleyhq/parley/deploy/k8sschema"
)

func main() { command.Main("k8s-schemas", run) }

// run writes the schemas and logs where they are.
func run(ctx context.Context, logger *slog.Logger, _ io.Writer, args []string) error {
	fs := flag.NewFlagSet("k8s-schemas", flag.ContinueOnError)
	out := fs.String("out", filepath.Join("..", ".build", "k8s-schemas", k8sschema.KubernetesVersion), "directory to write the schemas into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := k8sschema.Ensure(ctx, *out); err != nil {
		return err
	}
	logger.Info("schemas ready", "kubernetes", k8sschema.KubernetesVersion, "dir", *out, "location", k8sschema.Location(*out))
	return nil
}

// Command images builds one OCI image per Parley service into an OCI image layout and prints each
// image's digest: `make images` (docs/deploy.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/parleyhq/parley/deploy/imagebuild"
	"github.com/parleyhq/parley/deploy/internal/command"
)

func main() { command.Main("images", run) }

// run builds the images and writes one line per image to stdout: the service and the digest.
func run(ctx context.Context, logger *slog.Logger, stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("images", flag.ContinueOnError)
	root := fs.String("root", "..", "the repository")
	out := fs.String("out", "../.build/images", "the OCI image layout to write (replaced)")
	arch := fs.String("arch", runtime.GOARCH, "GOARCH of the images")
	source := fs.String("source", "https://github.com/parleyhq/parley", "the repository's URL (label "+imagebuild.LabelSource+")")
	web := fs.String("web", "", "a built web app (web/dist) for the gateway's image; empty: none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	services, err := imagebuild.Services(*root)
	if err != nil {
		return err
	}
	if names := fs.Args(); len(names) > 0 {
		services, err = pick(services, names)
		if err != nil {
			return err
		}
	}
	commit, err := imagebuild.HeadCommit(ctx, *root)
	if err != nil {
		return err
	}
	logger.Info("building images", "revision", commit.Revision, "created", commit.Time, "arch", *arch, "out", *out)

	binDir, err := os.MkdirTemp("", "parley-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(binDir)
	if err := os.RemoveAll(*out); err != nil {
		return err
	}
	lp, err := layout.Write(*out, empty.Index)
	if err != nil {
		return fmt.Errorf("image layout %s: %w", *out, err)
	}
	for _, svc := range services {
		bin := filepath.Join(binDir, svc.Name)
		if err := imagebuild.BuildBinary(ctx, *root, svc.Name, *arch, bin); err != nil {
			return err
		}
		spec := imagebuild.Spec{
			Service: svc.Name, Binary: bin, Port: svc.Port, Arch: *arch,
			Revision: commit.Revision, Source: *source, Created: commit.Time,
		}
		if svc.Name == "gateway" {
			spec.WebDir = *web
		}
		img, err := imagebuild.Image(spec)
		if err != nil {
			return fmt.Errorf("%s: %w", svc.Name, err)
		}
		if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{
			"org.opencontainers.image.ref.name": svc.Name,
		})); err != nil {
			return fmt.Errorf("%s: write the image: %w", svc.Name, err)
		}
		digest, err := img.Digest()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-13s %s\n", svc.Name, digest)
	}
	return nil
}

// pick returns the registry's entries named, in the order named.
func pick(all []imagebuild.Service, names []string) ([]imagebuild.Service, error) {
	var picked []imagebuild.Service
	var errs []error
	for _, n := range names {
		i := slices.IndexFunc(all, func(s imagebuild.Service) bool { return s.Name == n })
		if i < 0 {
			errs = append(errs, fmt.Errorf("no service %q in tilt/services.json", n))
			continue
		}
		picked = append(picked, all[i])
	}
	return picked, errors.Join(errs...)
}

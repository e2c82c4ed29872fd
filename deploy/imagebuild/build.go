package imagebuild

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildBinary compiles services/<service> of the repository at root into out: static
// (CGO_ENABLED=0), for linux/arch, with paths trimmed, no VCS stamp and no build id, so that the
// binary depends on the sources and the Go toolchain only — not on where the repository lies or
// when it was built. The module is built alone (GOWORK=off), at the versions its own go.mod and
// go.sum pin, as CI builds it.
func BuildBinary(ctx context.Context, root, service, arch, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w -buildid=", "-o", out, ".")
	cmd.Dir = filepath.Join(root, "services", service)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOWORK=off", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build services/%s: %w\n%s", service, err, b)
	}
	return nil
}

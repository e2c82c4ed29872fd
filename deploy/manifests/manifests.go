// Package manifests renders Parley's Kubernetes manifests (deploy/kubernetes) with kustomize and
// checks every object against the Kubernetes API's schemas with kubeconform — both the versions
// pinned in tools/go.mod, run with `go tool` from there — offline, with the schemas of package
// k8sschema.
package manifests

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/parleyhq/parley/deploy/k8sschema"
)

// Dir is where the manifests live, from the repository's root.
const Dir = "deploy/kubernetes"

// SchemaDir is where the schemas are generated, from the repository's root (git-ignored).
var SchemaDir = filepath.Join(".build", "k8s-schemas", k8sschema.KubernetesVersion)

// Kustomizations lists every directory under deploy/kubernetes that kustomize can render on its
// own (kind Kustomization; a Component only renders inside one), relative to root, sorted.
func Kustomizations(root string) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(filepath.Join(root, Dir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "kustomization.yaml" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("\nkind: Component")) {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		dirs = append(dirs, rel)
		return nil
	})
	slices.Sort(dirs)
	return dirs, err
}

// Render returns `kustomize build` of dir (relative to root, or absolute): the objects, as a
// YAML stream.
func Render(ctx context.Context, root, dir string) ([]byte, error) {
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	out, err := goTool(ctx, root, nil, "kustomize", "build", abs)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return out, nil
}

// Validate checks every object of a YAML stream against the schemas in schemaDir (k8sschema.Ensure
// makes them) with kubeconform -strict: a field the API does not know, a value of the wrong type,
// a missing required field or a kind without a schema fails. It returns kubeconform's report.
func Validate(ctx context.Context, root, schemaDir string, objects []byte) (string, error) {
	abs, err := filepath.Abs(schemaDir)
	if err != nil {
		return "", err
	}
	out, err := goTool(ctx, root, objects, "kubeconform", "-strict", "-summary", "-output", "text",
		"-schema-location", k8sschema.Location(abs), "-")
	if err != nil {
		return string(out), fmt.Errorf("kubeconform: %w\n%s", err, out)
	}
	return string(out), nil
}

// goTool runs a tool pinned in tools/go.mod (`go tool`, which builds it once into Go's cache)
// with stdin, returning its standard output, or its output and error output when it fails.
func goTool(ctx context.Context, root string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", append([]string{"tool"}, args...)...)
	cmd.Dir = filepath.Join(root, "tools")
	// tools/ is its own module outside go.work (docs/architecture.md).
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return append(stdout.Bytes(), stderr.Bytes()...), fmt.Errorf("go tool %s: %w: %s", strings.Join(args[:1], ""), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// Check renders every kustomization, writes each rendering into outDir (named after its path:
// deploy/kubernetes/overlays/production → overlays-production.yaml) and validates it. It returns
// one report per kustomization, and an error naming each that failed.
func Check(ctx context.Context, root, outDir string) ([]string, error) {
	if err := k8sschema.Ensure(ctx, filepath.Join(root, SchemaDir)); err != nil {
		return nil, err
	}
	dirs, err := Kustomizations(root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	var reports []string
	var failed []string
	for _, dir := range dirs {
		objects, err := Render(ctx, root, dir)
		if err != nil {
			return reports, err
		}
		rel := strings.TrimPrefix(filepath.ToSlash(dir), Dir+"/")
		if err := os.WriteFile(filepath.Join(outDir, strings.ReplaceAll(rel, "/", "-")+".yaml"), objects, 0o644); err != nil {
			return reports, err
		}
		report, err := Validate(ctx, root, filepath.Join(root, SchemaDir), objects)
		reports = append(reports, dir+": "+strings.TrimSpace(report))
		if err != nil {
			failed = append(failed, dir)
		}
	}
	if len(failed) > 0 {
		return reports, fmt.Errorf("invalid manifests in %s", strings.Join(failed, ", "))
	}
	return reports, nil
}

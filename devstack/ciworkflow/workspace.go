package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// module is one module of the workspace as CI sees it.
type module struct {
	Dir  string   // slash-separated, relative to the repository: "services/chat"
	Path string   // the module path: "github.com/parleyhq/parley/services/chat"
	Deps []string // Dirs of the workspace modules its go.mod requires or replaces with a local copy
}

// workspace is what the workflow is generated from.
type workspace struct {
	Go      string   // go.work's go directive: the Go of every job
	Modules []module // in go.work's order
	// Outside are the modules CI builds outside go.work (GOWORK=off), each in a job of its own on
	// the runner itself: outOfWorkspace's that exist.
	Outside []module
}

// outOfWorkspace are the modules outside go.work that have a job: the Makefile's
// OUT_OF_WORKSPACE (deploy/, whose tests run the images under podman; tools/ holds only the
// pinned tools, built by every job).
var outOfWorkspace = []string{"deploy"}

// goMod is what the workflow needs of a go.mod (`go mod edit -json`).
type goMod struct {
	Module  struct{ Path string }
	Require []struct{ Path string }
	Replace []struct{ New struct{ Path string } }
}

// loadWorkspace reads go.work under root, every go.mod it uses and those of outOfWorkspace, through `go work edit -json`
// and `go mod edit -json`: the go command's own reading, so nothing here parses either format.
func loadWorkspace(root string) (workspace, error) {
	var work struct {
		Go  string
		Use []struct{ DiskPath string }
	}
	if err := goJSON(root, &work, "work", "edit", "-json", "go.work"); err != nil {
		return workspace{}, err
	}
	ws := workspace{Go: work.Go}
	byPath := map[string]string{} // module path -> Dir
	mods := make([]goMod, len(work.Use))
	for i, u := range work.Use {
		dir := path.Clean(filepath.ToSlash(u.DiskPath))
		if dir == "." || strings.HasPrefix(dir, "../") || path.IsAbs(dir) {
			return workspace{}, fmt.Errorf("go.work uses %q: CI builds only modules inside the repository", u.DiskPath)
		}
		if err := goJSON(root, &mods[i], "mod", "edit", "-json", path.Join(dir, "go.mod")); err != nil {
			return workspace{}, err
		}
		ws.Modules = append(ws.Modules, module{Dir: dir, Path: mods[i].Module.Path})
		byPath[mods[i].Module.Path] = dir
	}
	byDir := map[string]bool{}
	for _, m := range ws.Modules {
		byDir[m.Dir] = true
	}
	n := len(ws.Modules)
	for _, dir := range outOfWorkspace {
		if _, err := os.Stat(filepath.Join(root, dir, "go.mod")); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		var gm goMod
		if err := goJSON(root, &gm, "mod", "edit", "-json", path.Join(dir, "go.mod")); err != nil {
			return workspace{}, err
		}
		mods = append(mods, gm)
		ws.Outside = append(ws.Outside, module{Dir: dir, Path: gm.Module.Path})
	}
	for i, gm := range mods[:n] {
		ws.Modules[i].Deps = workspaceDeps(ws.Modules[i].Dir, gm, byPath, byDir)
	}
	for i, gm := range mods[n:] {
		ws.Outside[i].Deps = workspaceDeps(ws.Outside[i].Dir, gm, byPath, byDir)
	}
	return ws, nil
}

// workspaceDeps are the Dirs of the workspace modules that the go.mod in dir requires (byPath:
// module path to Dir) or replaces with a local directory (byDir: the workspace's Dirs), sorted.
func workspaceDeps(dir string, gm goMod, byPath map[string]string, byDir map[string]bool) []string {
	var deps []string
	for _, r := range gm.Require {
		if d, ok := byPath[r.Path]; ok {
			deps = append(deps, d)
		}
	}
	// A replace by a local directory builds that directory with GOWORK=off: a dependency too.
	for _, r := range gm.Replace {
		if p := r.New.Path; strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../") {
			if d := path.Join(dir, p); byDir[d] {
				deps = append(deps, d)
			}
		}
	}
	slices.Sort(deps)
	return slices.Compact(deps)
}

// goJSON runs the go command in dir and decodes what it prints into v.
func goJSON(dir string, v any, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			stderr = strings.TrimSpace(string(exitErr.Stderr))
		}
		return fmt.Errorf("go %s: %w %s", strings.Join(args, " "), err, stderr)
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

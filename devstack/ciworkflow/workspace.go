package main

import (
	"encoding/json"
	"errors"
	"fmt"
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
}

// loadWorkspace reads go.work under root and every go.mod it uses, through `go work edit -json`
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
	type goMod struct {
		Module  struct{ Path string }
		Require []struct{ Path string }
		Replace []struct{ New struct{ Path string } }
	}
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
	for i, gm := range mods {
		m := &ws.Modules[i]
		for _, r := range gm.Require {
			if dir, ok := byPath[r.Path]; ok {
				m.Deps = append(m.Deps, dir)
			}
		}
		// A replace by a local directory builds that directory with GOWORK=off: a dependency too.
		for _, r := range gm.Replace {
			if p := r.New.Path; strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../") {
				if dir := path.Join(m.Dir, p); byDir[dir] {
					m.Deps = append(m.Deps, dir)
				}
			}
		}
		slices.Sort(m.Deps)
		m.Deps = slices.Compact(m.Deps)
	}
	return ws, nil
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

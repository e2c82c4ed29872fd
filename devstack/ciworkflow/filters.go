package main

import (
	"slices"
	"strings"
)

// sharedPaths are read by every module's job: the workspace, the build and lint configuration, the
// pinned tools, the CI entry point and the workflow itself.
var sharedPaths = []string{
	".ci/**",
	".github/workflows/ci.yml",
	".golangci.yml",
	"Makefile",
	"go.work",
	"go.work.sum",
	"tools/go.mod",
	"tools/go.sum",
}

// extraPaths are files outside a module's directory that its own job reads (not inherited by the
// modules that depend on it).
var extraPaths = map[string][]string{
	// buf's configuration, and what make check-gen compares: web/src/gen and the TypeScript
	// generator pinned in web's lockfile.
	"contracts": {"buf.gen.yaml", "buf.yaml", "web/package-lock.json", "web/package.json", "web/src/gen/**"},
	// The Tiltfile and what it loads, which devstack's Tilt tests run.
	"devstack": {"Tiltfile", "tilt/**"},
	// The registry's ports, which the images are built with (imagebuild) and the podman tests run.
	"deploy": {"tilt/services.json"},
}

// runs is what a module's tests build and start beyond what its go.mod requires. The dev stack's
// tests (its stack and Tilt) compile and run every service from source, so a change to a service
// is a change for devstack — and for loadtest, which runs the dev stack. deploy's build every
// service's image and run them against the dev stack's infrastructure, which they build.
func runs(m module, all []module) []string {
	if m.Dir != "devstack" && m.Dir != "deploy" {
		return nil
	}
	var dirs []string
	for _, o := range all {
		if strings.HasPrefix(o.Dir, "services/") || (m.Dir == "deploy" && o.Dir == "devstack") {
			dirs = append(dirs, o.Dir)
		}
	}
	return dirs
}

// dependsOn returns the Dirs of the modules whose change can break m's build or tests: m itself
// and every module reachable from it through go.mod requirements, local replaces and runs, sorted.
func dependsOn(m module, all []module) []string {
	byDir := map[string]module{}
	for _, o := range all {
		byDir[o.Dir] = o
	}
	seen := map[string]bool{}
	var visit func(dir string)
	visit = func(dir string) {
		if seen[dir] {
			return
		}
		seen[dir] = true
		o := byDir[dir]
		for _, d := range o.Deps {
			visit(d)
		}
		for _, d := range runs(o, all) {
			visit(d)
		}
	}
	visit(m.Dir)
	dirs := make([]string, 0, len(seen))
	for d := range seen {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	return dirs
}

// filter is the list of path globs whose change runs m's job.
func filter(m module, all []module) []string {
	var globs []string
	for _, d := range dependsOn(m, all) {
		globs = append(globs, d+"/**")
	}
	globs = append(globs, extraPaths[m.Dir]...)
	if m.Dir == "devstack" {
		// This generator's test compares the workflow with every module's go.mod.
		for _, o := range all {
			if !slices.Contains(globs, o.Dir+"/**") {
				globs = append(globs, o.Dir+"/go.mod")
			}
		}
	}
	globs = append(globs, sharedPaths...)
	slices.Sort(globs)
	return slices.Compact(globs)
}

package main

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The committed workflow is exactly what the generator writes from today's go.work and go.mod
// files, so a new module, a new requirement or a hand edit cannot leave CI behind.
func TestCommittedWorkflowIsGenerated(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	want, err := generate(root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(workflowFile)))
	if err != nil {
		t.Fatalf("%v: run `make ci-workflow` and commit %s", err, workflowFile)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is not what the generator writes from go.work and the go.mod files: run `make ci-workflow` "+
			"and commit it (first difference at line %d)", workflowFile, firstDiffLine(got, want))
	}
}

// The repository's own graph: services rebuild when platform or contracts change, platform does
// not rebuild for a service, and the dev stack and load generator, whose tests run the services,
// rebuild for any of them.
func TestRepositoryFilters(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ws, err := loadWorkspace(root)
	if err != nil {
		t.Fatal(err)
	}
	filters := map[string][]string{}
	all := append(slices.Clone(ws.Modules), ws.Outside...)
	for _, m := range all {
		filters[m.Dir] = filter(m, all)
	}
	for _, dir := range []string{"contracts", "platform", "devstack", "loadtest", "services/chat", "services/gateway", "deploy"} {
		if filters[dir] == nil {
			t.Fatalf("no job for %s: modules %v", dir, slices.Sorted(maps.Keys(filters)))
		}
	}
	has := func(dir, glob string) bool { return slices.Contains(filters[dir], glob) }
	for _, c := range []struct {
		dir, glob string
		want      bool
	}{
		{"services/chat", "services/chat/**", true},
		{"services/chat", "platform/**", true},
		{"services/chat", "contracts/**", true},
		{"services/chat", "services/friend/**", false}, // services share only protos and events
		{"services/chat", "go.work", true},
		{"platform", "services/chat/**", false},
		{"platform", "contracts/**", false}, // platform carries no domain types
		{"contracts", "platform/**", false},
		{"contracts", "buf.yaml", true},
		{"contracts", "web/src/gen/**", true},
		{"services/chat", "buf.yaml", false},
		{"devstack", "services/chat/**", true},
		{"devstack", "Tiltfile", true},
		{"devstack", "loadtest/go.mod", true},
		{"loadtest", "services/chat/**", true}, // through devstack, which it requires and which runs it
		{"loadtest", "platform/**", true},
		{"loadtest", "Tiltfile", false},
		{"devstack", "deploy/go.mod", true}, // this generator reads it
		{"devstack", "deploy/**", false},
		// deploy's tests build every service's image and the dev stack (its podman test).
		{"deploy", "deploy/**", true},
		{"deploy", "services/chat/**", true},
		{"deploy", "devstack/**", true},
		{"deploy", "contracts/**", true},
		{"deploy", "loadtest/**", false},
		{"services/chat", "deploy/**", false},
	} {
		if got := has(c.dir, c.glob); got != c.want {
			t.Errorf("%s's filter has %q: %v, want %v (filter %v)", c.dir, c.glob, got, c.want, filters[c.dir])
		}
	}
}

// The modules outside go.work with a job are the Makefile's OUT_OF_WORKSPACE, which .ci/run
// accepts too.
func TestOutsideModulesAreTheMakefiles(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for line := range strings.Lines(string(makefile)) {
		if v, ok := strings.CutPrefix(line, "OUT_OF_WORKSPACE := "); ok {
			listed = strings.Fields(v)
		}
	}
	if !slices.Equal(listed, outOfWorkspace) {
		t.Errorf("the Makefile's OUT_OF_WORKSPACE is %v, the workflow's %v", listed, outOfWorkspace)
	}
}

// Requirements are followed transitively, through require and through a replace by a local
// directory, and nothing else is added, on a workspace made up for the test.
func TestFiltersFollowTheModuleGraph(t *testing.T) {
	root := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.work", "go 1.26.0\n\nuse (\n\t./base\n\t./lib\n\t./svc/a\n\t./svc/b\n\t./other\n)\n")
	write("base/go.mod", "module example.com/base\n\ngo 1.26.0\n")
	write("lib/go.mod", "module example.com/lib\n\ngo 1.26.0\n\nrequire example.com/base v0.0.0\n\nreplace example.com/base => ../base\n")
	// Only a replace names lib: still a dependency (GOWORK=off builds it from there).
	write("svc/a/go.mod", "module example.com/svc/a\n\ngo 1.26.0\n\nreplace example.com/lib => ../../lib\n")
	write("svc/b/go.mod", "module example.com/svc/b\n\ngo 1.26.0\n\nrequire (\n\texample.com/svc/a v0.0.0\n\tgolang.org/x/sync v0.1.0\n)\n")
	write("other/go.mod", "module example.com/other\n\ngo 1.26.0\n")
	// Outside go.work: a job of its own, following its replaces into the workspace.
	write("deploy/go.mod", "module example.com/deploy\n\ngo 1.26.0\n\nreplace example.com/lib => ../lib\n")

	ws, err := loadWorkspace(root)
	if err != nil {
		t.Fatal(err)
	}
	if ws.Go != "1.26.0" {
		t.Errorf("Go %q, want go.work's 1.26.0", ws.Go)
	}
	got := map[string][]string{}
	for _, m := range ws.Modules {
		got[m.Dir] = dependsOn(m, ws.Modules)
	}
	want := map[string][]string{
		"base":  {"base"},
		"lib":   {"base", "lib"},
		"svc/a": {"base", "lib", "svc/a"},
		"svc/b": {"base", "lib", "svc/a", "svc/b"},
		"other": {"other"},
	}
	if len(ws.Outside) != 1 || ws.Outside[0].Dir != "deploy" {
		t.Fatalf("outside go.work: %v, want deploy", ws.Outside)
	}
	got["deploy"] = dependsOn(ws.Outside[0], append(slices.Clone(ws.Modules), ws.Outside...))
	want["deploy"] = []string{"base", "deploy", "lib"}
	for dir, w := range want {
		if !slices.Equal(got[dir], w) {
			t.Errorf("%s depends on %v, want %v", dir, got[dir], w)
		}
	}
	out, err := render(ws)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"container: golang:1.26.0-bookworm",
		`modules: ${{ github.event_name == 'workflow_dispatch' && '["base","lib","svc/a","svc/b","other"]' || steps.filter.outputs.changes }}`,
		"            svc/b:\n              - '.ci/**'\n",
		"              - 'svc/a/**'\n              - 'svc/b/**'\n              - 'tools/go.mod'\n",
		"      deploy: ${{ github.event_name == 'workflow_dispatch' || steps.outside.outputs.deploy == 'true' }}\n",
		"            deploy:\n              - '.ci/**'\n",
		"              - 'base/**'\n              - 'deploy/**'\n",
		"  deploy:\n    name: deploy (podman)\n    needs: changes\n    if: needs.changes.outputs.deploy == 'true'\n    runs-on: ubuntu-latest\n",
		"run: sudo env \"CI=$CI\" \"PATH=$PATH\" \"GOMODCACHE=$GOMODCACHE\" \"GOCACHE=$GOCACHE\" .ci/run deploy\n",
	} {
		if !strings.Contains(string(out), line) {
			t.Errorf("the workflow lacks %q:\n%s", line, out)
		}
	}
}

func firstDiffLine(a, b []byte) int {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}

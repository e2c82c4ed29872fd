package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/platform/logtest"
)

// output returns a writer whose content is logged if the test fails.
func output(t *testing.T) *logtest.Buffer {
	t.Helper()
	b := &logtest.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stack output:\n%s", b.String())
		}
	})
	return b
}

// reachableTempDir is a temporary directory the postgres user can reach: t.TempDir makes its
// directories 0700, which Postgres, running as postgres under root, could not enter.
func reachableTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// repoRoot is the Parley repository this package lives in (for the real registry and tools).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, RegistryPath)); err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return root
}

type fakeService struct {
	Service
	mode string // FAKE_MODE
}

// fakeRoot builds a repository with a registry of the given services, each a copy of
// testdata/fakesvc in services/<name> with its own go.mod, joined by a go.work.
func fakeRoot(t *testing.T, services ...fakeService) string {
	t.Helper()
	root := reachableTempDir(t)
	src, err := os.ReadFile("testdata/fakesvc/main.go")
	if err != nil {
		t.Fatal(err)
	}
	var reg Registry
	work := "go 1.26.0\n\nuse (\n"
	for _, s := range services {
		svc := s.Service
		if s.mode != "" {
			svc.Env = map[string]string{"FAKE_MODE": s.mode}
		}
		reg.Services = append(reg.Services, svc)
		dir := filepath.Join(root, "services", svc.Name)
		mustWrite(t, filepath.Join(dir, "go.mod"), fmt.Sprintf("module example.com/fake/%s\n\ngo 1.26.0\n", svc.Name))
		mustWrite(t, filepath.Join(dir, "main.go"), string(src))
		work += "\t./services/" + svc.Name + "\n"
	}
	mustWrite(t, filepath.Join(root, "go.work"), work+")\n")
	data, err := json.MarshalIndent(reg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(root, RegistryPath), string(data))
	return root
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// testOptions runs a stack of root in a data directory and port range of its own, with the real
// repository's tool binaries.
func testOptions(t *testing.T, root string, out *logtest.Buffer) Options {
	t.Helper()
	base, err := FreePortBase()
	if err != nil {
		t.Fatal(err)
	}
	real := repoRoot(t)
	return Options{
		Root:         root,
		DataDir:      filepath.Join(reachableTempDir(t), "data"),
		PortBase:     base,
		Output:       out,
		BinDir:       filepath.Join(real, ".bin"),
		ToolsDir:     filepath.Join(real, "tools"),
		ReadyTimeout: 90 * time.Second,
		NoInstall:    true,
	}
}

// fakeEnv asks a fake service for its pid and environment.
func fakeEnv(t *testing.T, url string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get(url + "/env")
	if err != nil {
		t.Fatalf("GET %s/env: %v", url, err)
	}
	defer resp.Body.Close()
	var body struct {
		PID int      `json:"pid"`
		Env []string `json:"env"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range body.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return body.PID, env
}

// alive reports whether a process with this pid exists (and is not a zombie of ours).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if errors.Is(err, syscall.ESRCH) {
		return false
	}
	// A zombie still answers kill(0); /proc tells.
	b, rerr := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if rerr != nil {
		return false
	}
	fields := strings.Fields(string(b))
	return len(fields) < 3 || fields[2] != "Z"
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

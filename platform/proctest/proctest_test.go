package proctest

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStartWaitsUntilReadyAndStopEndsTheProcess(t *testing.T) {
	calls := 0
	p, err := Start(exec.Command("sh", "-c", "echo hello; exec sleep 30"), syscall.SIGTERM, 10*time.Second, func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 3 {
		t.Fatalf("ready called %d times, want 3 (until it succeeds)", calls)
	}
	select {
	case <-p.done:
		t.Fatal("the process exited while running")
	default:
	}
	begin := time.Now()
	p.Stop()
	if took := time.Since(begin); took > 2*time.Second {
		t.Fatalf("Stop took %v: the stop signal should end sleep at once", took)
	}
	if p.cmd.ProcessState == nil || p.cmd.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Fatalf("process state %v, want ended by SIGTERM", p.cmd.ProcessState)
	}
	if !strings.Contains(p.Output(), "hello") {
		t.Fatalf("Output() = %q, want the program's output", p.Output())
	}
	p.Stop() // a second Stop does nothing
}

func TestStartFailsWhenTheProcessExits(t *testing.T) {
	_, err := Start(exec.Command("sh", "-c", "echo boom >&2; exit 3"), syscall.SIGTERM, 10*time.Second, func() error {
		return errors.New("not yet")
	})
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want an exit with the program's output", err)
	}
}

func TestStartStopsAProcessThatIsNeverReady(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	_, err := Start(cmd, syscall.SIGTERM, 100*time.Millisecond, func() error { return errors.New("no answer") })
	if err == nil || !strings.Contains(err.Error(), "not ready within 100ms") || !strings.Contains(err.Error(), "no answer") {
		t.Fatalf("err = %v, want not ready with the last check's error", err)
	}
	if cmd.ProcessState == nil {
		t.Fatal("the process still runs after Start gave up on it")
	}
}

func TestStopKillsAProcessThatIgnoresTheSignal(t *testing.T) {
	defer func(d time.Duration) { killAfter = d }(killAfter)
	killAfter = 200 * time.Millisecond
	trapped := filepath.Join(t.TempDir(), "trapped") // written once SIGTERM is ignored
	p, err := Start(exec.Command("sh", "-c", `trap "" TERM; touch "$0"; exec sleep 30`, trapped), syscall.SIGTERM, 10*time.Second, func() error {
		_, err := os.Stat(trapped)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	p.Stop()
	if took := time.Since(begin); took < killAfter || took > 5*time.Second {
		t.Fatalf("Stop took %v, want the kill after %v", took, killAfter)
	}
	if p.cmd.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("process state %v, want killed", p.cmd.ProcessState)
	}
}

func TestHTTPOK(t *testing.T) {
	status := http.StatusServiceUnavailable
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()
	if err := HTTPOK(srv.URL); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("HTTPOK on a 503 = %v, want an error naming the status", err)
	}
	status = http.StatusOK
	if err := HTTPOK(srv.URL); err != nil {
		t.Fatalf("HTTPOK on a 200 = %v", err)
	}
	srv.Close()
	if err := HTTPOK(srv.URL); err == nil {
		t.Fatal("HTTPOK with nothing listening succeeded")
	}
}

// fakeRepo makes a repository (go.work) with a tools module that pins a program named tool, and
// makes its sub/dir the working directory.
func fakeRepo(t *testing.T, tool string) string {
	root := t.TempDir()
	files := map[string]string{
		"go.work":                    "go 1.24\n",
		"tools/go.mod":               "module example.com/tools\n\ngo 1.24\n",
		"tools/" + tool + "/main.go": "package main\n\nfunc main() {}\n",
		"sub/dir/.keep":              "",
	}
	for name, body := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(filepath.Join(root, "sub", "dir"))
	return root
}

func TestToolBuildsAMissingToolIntoTheRepositorysBin(t *testing.T) {
	root := fakeRepo(t, "parley-fake-tool")
	want := filepath.Join(root, ".bin", "parley-fake-tool")
	got, err := Tool("PARLEY_FAKE_TOOL_BIN", "parley-fake-tool", "example.com/tools/parley-fake-tool")
	if err != nil || got != want {
		t.Fatalf("Tool = %q, %v; want %q", got, err, want)
	}
	if err := exec.Command(got).Run(); err != nil {
		t.Fatalf("the built tool does not run: %v", err)
	}
	// Now in .bin, it is found there without building: a broken tools module shows it is not built again.
	if err := os.WriteFile(filepath.Join(root, "tools", "parley-fake-tool", "main.go"), []byte("broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := Tool("PARLEY_FAKE_TOOL_BIN", "parley-fake-tool", "example.com/tools/parley-fake-tool"); err != nil || got != want {
		t.Fatalf("Tool with the tool in .bin = %q, %v; want %q", got, err, want)
	}
	t.Setenv("PARLEY_FAKE_TOOL_BIN", "/elsewhere/tool")
	if got, err := Tool("PARLEY_FAKE_TOOL_BIN", "parley-fake-tool", "example.com/tools/parley-fake-tool"); err != nil || got != "/elsewhere/tool" {
		t.Fatalf("Tool with the variable set = %q, %v; want /elsewhere/tool", got, err)
	}
}

func TestToolLooksOnPathThenReportsAFailedBuild(t *testing.T) {
	fakeRepo(t, "other")
	binDir := t.TempDir()
	onPath := filepath.Join(binDir, "parley-path-tool")
	if err := os.WriteFile(onPath, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	if got, err := Tool("PARLEY_PATH_TOOL_BIN", "parley-path-tool", "example.com/tools/parley-path-tool"); err != nil || got != onPath {
		t.Fatalf("Tool = %q, %v; want %q from PATH", got, err, onPath)
	}
	_, err := Tool("PARLEY_NO_SUCH_TOOL_BIN", "parley-no-such-tool", "example.com/tools/parley-no-such-tool")
	if err == nil || !strings.Contains(err.Error(), "build parley-no-such-tool (make tools)") {
		t.Fatalf("Tool for a tool the tools module does not have = %v, want a build error", err)
	}
}

func TestRepoRootIsTheNearestDirectoryWithGoWork(t *testing.T) {
	root := fakeRepo(t, "other")
	if got, err := RepoRoot(); err != nil || got != root {
		t.Fatalf("RepoRoot in %s/sub/dir = %q, %v; want %q", root, got, err, root)
	}
	inner := filepath.Join(root, "sub")
	if err := os.WriteFile(filepath.Join(inner, "go.work"), []byte("go 1.24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := RepoRoot(); err != nil || got != inner {
		t.Fatalf("RepoRoot below a nearer go.work = %q, %v; want %q", got, err, inner)
	}
	t.Chdir(t.TempDir())
	if got, err := RepoRoot(); err == nil || !strings.Contains(err.Error(), "no go.work") {
		t.Fatalf("RepoRoot outside a repository = %q, %v; want an error saying there is no go.work", got, err)
	}
}

func TestToolNeedsTheRepository(t *testing.T) {
	t.Chdir(t.TempDir())
	_, err := Tool("PARLEY_FAKE_TOOL_BIN", "parley-fake-tool", "example.com/tools/parley-fake-tool")
	if err == nil || !strings.Contains(err.Error(), "PARLEY_FAKE_TOOL_BIN") {
		t.Fatalf("Tool outside a repository = %v, want an error naming the variable", err)
	}
}

func TestFreePortIsFree(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("listen on the free port %d: %v", port, err)
	}
	l.Close()
}

func TestFreeAddrIsFree(t *testing.T) {
	addr := FreeAddr(t)
	if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" {
		t.Fatalf("FreeAddr = %q (%v), want 127.0.0.1:<port>", addr, err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on the free address %s: %v", addr, err)
	}
	l.Close()
}

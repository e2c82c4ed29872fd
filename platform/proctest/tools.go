package proctest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// Tool returns the path of a pinned tool binary (mailpit, versitygw): the one the environment
// variable env names when it is set; else <repo>/.bin/<name>, the repository being the nearest
// directory at or above the working directory that holds go.work; else <name> on PATH; else it
// builds pkg from the tools module (tools/go.mod pins its version) into <repo>/.bin, as
// `make tools` does.
func Tool(env, name, pkg string) (string, error) {
	if p := os.Getenv(env); p != "" {
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", fmt.Errorf("%w: cannot find the repository's .bin/%s (or set %s)", err, name, env)
	}
	local := filepath.Join(root, ".bin", name)
	if st, err := os.Stat(local); err == nil && !st.IsDir() {
		return local, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	cmd := exec.Command("go", "install", pkg)
	cmd.Dir = filepath.Join(root, "tools")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOBIN="+filepath.Join(root, ".bin"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s (make tools): %w: %s", name, err, out)
	}
	return local, nil
}

// RepoRoot returns the repository a program runs in: the nearest directory at or above the working
// directory that holds go.work. Use it for a test or a development command that reads or writes the
// repository's files (.bin, the CI workflow); `go test` and `go run` start inside it.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work at or above the working directory")
		}
		dir = parent
	}
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on at the moment (another process
// may take it before the caller's server binds it: retry on failure).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreeAddr is FreePort as a "127.0.0.1:<port>" address, failing the test if there is none: for a
// server a test starts there, or for an address that nothing answers.
func FreeAddr(t testing.TB) string {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatalf("proctest: free port: %v", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// Package stacktest starts a Parley dev stack for a test (the end-to-end suite): its own ports,
// its own data directory, output shown only when the test fails, stopped when the test ends.
package stacktest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/devstack/stack"
	"github.com/parleyhq/parley/platform/logtest"
)

// Start runs a stack for t with opts, filling in what a test needs: a free PortBase, a fresh
// DataDir the postgres user can reach, the ServiceBinDir every test stack of the repository
// shares (SharedServiceBinDir), StopOnCrash, and Output kept for the failure log. Fields already
// set in opts are kept (Services to run a subset, DatabaseURL to use a server of yours...). The
// stack is closed when the test ends; a service that crashed meanwhile fails the test.
func Start(t testing.TB, opts stack.Options) *stack.Stack {
	t.Helper()
	if opts.ServiceBinDir == "" {
		dir, err := SharedServiceBinDir(opts.Root)
		if err != nil {
			t.Fatalf("stacktest: %v", err)
		}
		opts.ServiceBinDir = dir
	}
	if opts.PortBase == 0 {
		base, err := stack.FreePortBase()
		if err != nil {
			t.Fatalf("stacktest: %v", err)
		}
		opts.PortBase = base
	}
	if opts.DataDir == "" {
		opts.DataDir = ReachableTempDir(t)
	}
	opts.StopOnCrash = true
	out := &logtest.Buffer{}
	if opts.Output == nil {
		opts.Output = out
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("dev stack output:\n%s", out.String())
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s, err := stack.Start(ctx, opts)
	if err != nil {
		t.Fatalf("stacktest: start the dev stack: %v", err)
	}
	t.Cleanup(func() {
		failed := s.Err()
		_ = s.Close()
		if failed != nil {
			t.Errorf("stacktest: the dev stack failed while the test ran: %v", failed)
		}
	})
	return s
}

// ReachableTempDir is a temporary directory that Postgres, run as the postgres user when the test
// runs as root, can enter (t.TempDir's directories are 0700).
func ReachableTempDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatalf("stacktest: %v", err)
		}
	}
	return dir
}

// SharedServiceBinDir is where the test stacks of the repository at root (empty: the one this
// test runs in) build the services: <root>/.data/stacktest-bin. Each test's stack has a data
// directory of its own, and linking the seven services into each took about 15 s a stack; in
// one directory the first stack of a run links them and the rest find them up to date. It is the
// repository's, not the machine's, so a stack never starts another checkout's binaries.
func SharedServiceBinDir(root string) (string, error) {
	if root == "" {
		var err error
		if root, err = stack.FindRoot(); err != nil {
			return "", err
		}
	}
	return filepath.Abs(filepath.Join(root, ".data", "stacktest-bin"))
}

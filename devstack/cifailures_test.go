package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/platform/proctest"
)

// failingTests is a test file whose failures look like the end-to-end suite's: a test that fails
// and then logs a long dev stack output from a cleanup, a browser run streamed to t.Output() that
// names its failed step, a failing subtest, a failing parallel test beside a passing one.
const failingTests = `package probe

import (
	"fmt"
	"strings"
	"testing"
)

func TestPasses(t *testing.T) { t.Log("a passing test's line") }

func TestWithStack(t *testing.T) {
	t.Cleanup(func() { t.Logf("dev stack output:\n%s", strings.Repeat("        postgres | shutting down\n", 500)) })
	t.Log("stack up")
	fmt.Fprintln(t.Output(), "ok   the first step")
	fmt.Fprintln(t.Output(), "FAIL the second step\n     Error: the widget never showed\n     at run.mjs:12")
	t.Run("sub", func(t *testing.T) { t.Error("the subtest's cause") })
	t.Fatal("node e2e/run.mjs: exit status 1")
}

func TestParallelFails(t *testing.T) { t.Parallel(); t.Error("the parallel test's cause") }

func TestParallelPasses(t *testing.T) { t.Parallel(); t.Log("another passing line") }
`

// hangingTest runs past the -timeout the probe is run with, after saying where it is.
const hangingTest = `package hang

import (
	"testing"
	"time"
)

func TestHangs(t *testing.T) {
	t.Log("waiting for the thing that never comes")
	time.Sleep(time.Minute)
}
`

// brokenTest does not compile.
const brokenTest = `package broken

var _ = undefinedThing
`

// TestCIFailures runs .ci/failures, which ends a failed .ci/run with what failed, on the logs of
// real failing tests, both as make test-e2e runs them (-v) and as the module tests run (plain),
// with every awk on the machine (Debian's default is mawk, this machine's may be gawk): each
// failing test's cause is there, its dev stack output cut to a few lines, a test that timed out
// and a package that did not build are named with why, and nothing of the tests that passed.
func TestCIFailures(t *testing.T) {
	root, err := proctest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var awks []string
	for _, a := range []string{"awk", "mawk", "gawk", "nawk", "original-awk"} {
		if _, err := exec.LookPath(a); err == nil {
			awks = append(awks, a)
		}
	}
	dir := t.TempDir()
	for name, text := range map[string]string{
		"go.mod":                "module probe\n\ngo 1.25\n",
		"probe_test.go":         failingTests,
		"hang/hang_test.go":     hangingTest,
		"broken/broken_test.go": brokenTest,
	} {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, mode := range [][]string{{"-v"}, nil} {
		args := append([]string{"test", "-count=1", "-timeout=3s"}, mode...)
		test := exec.CommandContext(t.Context(), "go", append(args, "./...")...)
		test.Dir = dir
		test.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
		out, err := test.CombinedOutput()
		if err == nil {
			t.Fatalf("the probe's tests passed:\n%s", out)
		}
		log := filepath.Join(dir, "test.log")
		if err := os.WriteFile(log, out, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, awk := range awks {
			t.Run(strings.Join(append([]string{"go test"}, mode...), " ")+" with "+awk, func(t *testing.T) {
				failures := exec.CommandContext(t.Context(), "bash", filepath.Join(root, ".ci", "failures"), log)
				failures.Env = append(os.Environ(), "AWK="+awk)
				summary, err := failures.CombinedOutput()
				if err != nil {
					t.Fatalf(".ci/failures: %v\n%s", err, summary)
				}
				got := string(summary)
				want := []string{
					"=== what failed",
					"--- FAIL: TestWithStack",
					"node e2e/run.mjs: exit status 1",
					"FAIL the second step",
					"Error: the widget never showed",
					"--- FAIL: TestWithStack/sub",
					"the subtest's cause",
					"--- FAIL: TestParallelFails",
					"the parallel test's cause",
					"dev stack output:",
					"more lines in the log)",
					"FAIL\tprobe\t",
					"panic: test timed out",
					"TestHangs",
					"FAIL\tprobe/hang",
					"undefined: undefinedThing",
					"FAIL\tprobe/broken [build failed]",
				}
				if len(mode) > 0 {
					// Only -v streams a running test's messages; plain go test shows them when it ends.
					want = append(want, "waiting for the thing that never comes")
				}
				for _, w := range want {
					if !strings.Contains(got, w) {
						t.Errorf("the summary lacks %q:\n%s", w, got)
					}
				}
				for _, not := range []string{"passing", "the first step"} {
					if strings.Contains(got, not) {
						t.Errorf("the summary has %q, of a test or step that passed:\n%s", not, got)
					}
				}
				if n := strings.Count(got, "postgres | shutting down"); n > 10 {
					t.Errorf("the summary has %d lines of the dev stack output:\n%s", n, got)
				}
			})
		}
	}
}

// TestCIFailuresSaysNothingWhenNothingFailed: a green log has no summary.
func TestCIFailuresSaysNothingWhenNothingFailed(t *testing.T) {
	root, err := proctest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "test.log")
	green := "=== RUN   TestA\n    a_test.go:3: fine\n--- PASS: TestA (0.00s)\nPASS\nok  \tprobe\t0.01s\n"
	if err := os.WriteFile(log, []byte(green), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), "bash", filepath.Join(root, ".ci", "failures"), log).CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Fatalf(".ci/failures on a green log: %v, %q", err, out)
	}
}

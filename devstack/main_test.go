package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/devstack/stack"
	"github.com/parleyhq/parley/platform/logtest"
	"github.com/parleyhq/parley/platform/waittest"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	code := run(context.Background(), args, &stdout, &stderr, func(k string) string { return env[k] })
	return code, stdout.String(), stderr.String()
}

func TestEnvCommandPrintsSourceableLines(t *testing.T) {
	code, out, errOut := runCLI(t, map[string]string{"PARLEY_PORT_BASE": "30000", "PARLEY_DATA_DIR": "/tmp/with space"}, "env", "auth")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"LISTEN_ADDR=127.0.0.1:30001\n",
		"DATABASE_URL='postgres://postgres@127.0.0.1:30020/parley_auth?sslmode=disable'\n",
		"AUTH_SIGNING_KEY_FILE='/tmp/with space/auth/signing-key.json'\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The output is valid shell: sourcing it sets the same values.
	script := "set -a\n" + out + "printf '%s|%s' \"$LISTEN_ADDR\" \"$AUTH_SIGNING_KEY_FILE\"\n"
	got, err := exec.Command("sh", "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "127.0.0.1:30001|/tmp/with space/auth/signing-key.json" {
		t.Errorf("sourced: %q", got)
	}
}

// TestEnvCommandShowsWhatPassesThrough: a service inherits every variable of the shell the stack
// does not set (LOG_LEVEL=debug make up works), so `env` prints those too, after the stack's own;
// a name the stack sets appears once, with the stack's value, and the output stays sourceable.
func TestEnvCommandShowsWhatPassesThrough(t *testing.T) {
	t.Setenv("LOG_LEVEL", "debug")
	t.Setenv("PARLEY_PASSTHROUGH_CHECK", "it's kept")
	t.Setenv("LISTEN_ADDR", "0.0.0.0:1")      // the stack sets it: its value wins
	t.Setenv("NOT-A-SHELL-NAME", "echo oops") // a shell cannot assign it: left out
	code, out, errOut := runCLI(t, nil, "env", "auth")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	own, passed, ok := strings.Cut(out, "# passed through from your environment")
	if !ok {
		t.Fatalf("no passed-through section:\n%s", out)
	}
	for _, want := range []string{"\nLOG_LEVEL=debug\n", "\nPARLEY_PASSTHROUGH_CHECK='it'\\''s kept'\n"} {
		if !strings.Contains(passed, want) {
			t.Errorf("passed-through section lacks %q:\n%s", want, passed)
		}
	}
	if !strings.Contains(own, "LISTEN_ADDR=127.0.0.1:8081\n") || strings.Count(out, "LISTEN_ADDR=") != 1 {
		t.Errorf("LISTEN_ADDR must appear once, with the stack's value:\n%s", out)
	}
	if strings.Contains(out, "NOT-A-SHELL-NAME") {
		t.Errorf("a name a shell cannot assign was printed:\n%s", out)
	}
	script := "set -a\n" + out + "printf '%s|%s|%s' \"$LOG_LEVEL\" \"$PARLEY_PASSTHROUGH_CHECK\" \"$LISTEN_ADDR\"\n"
	got, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err != nil || string(got) != "debug|it's kept|127.0.0.1:8081" {
		t.Errorf("sourced: %q, %v", got, err)
	}
}

func TestCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{nil, nil, 2, "usage"},
		{[]string{"launch"}, nil, 2, `unknown command "launch"`},
		{[]string{"env"}, nil, 2, "usage"},
		{[]string{"env", "billing"}, nil, 1, `no service "billing"`},
		{[]string{"exec", "auth"}, nil, 2, "usage"},
		{[]string{"infra", "auth"}, nil, 2, "usage"},
		{[]string{"status", "--root"}, nil, 2, "usage"},
		{[]string{"status", "--all"}, nil, 2, "usage"},
		{[]string{"env", "auth"}, map[string]string{"PARLEY_PORT_BASE": "x"}, 2, "PARLEY_PORT_BASE"},
	} {
		code, _, errOut := runCLI(t, tc.env, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	code, out, _ := runCLI(t, nil, "services")
	if code != 0 || !strings.Contains(out, "notification  8085  parley_notification") {
		t.Errorf("services: %d %q", code, out)
	}
}

// TestStatusFindsTheRepositoryFromElsewhere: Tilt runs the infra readiness probe in its own
// working directory, so `status --root <repo>` must work from anywhere.
func TestStatusFindsTheRepositoryFromElsewhere(t *testing.T) {
	bin := buildCLI(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	base, err := stack.FreePortBase()
	if err != nil {
		t.Fatal(err)
	}
	status := func(args ...string) string {
		cmd := exec.Command(bin, append([]string{"status"}, args...)...)
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "PARLEY_PORT_BASE="+strconv.Itoa(base))
		out, _ := cmd.CombinedOutput() // exit status 1: nothing runs on these ports
		return string(out)
	}
	if out := status("--infra"); !strings.Contains(out, "run from the Parley repository") {
		t.Errorf("status --infra outside the repository: %q", out)
	}
	out := status("--infra", "--root", root)
	if strings.HasPrefix(out, "config") || !strings.Contains(out, fmt.Sprintf("127.0.0.1:%d", base+20)) {
		t.Errorf("status --infra --root %s: %q, want each component checked at its port", root, out)
	}
}

// buildCLI compiles the command once per test.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "devstack")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestExecRunsACommandInTheServiceEnvironment(t *testing.T) {
	bin := buildCLI(t)
	cmd := exec.Command(bin, "exec", "profile", "--", "sh", "-c", `echo "$LISTEN_ADDR $DATABASE_URL $HOME"; exit 7`)
	cmd.Env = append(os.Environ(), "DATABASE_URL=postgres://postgres@db.example:5432/postgres", "HOME=/home/kept")
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("exit: %v (the command's status must come through)", err)
	}
	if got := strings.TrimSpace(string(out)); got != "127.0.0.1:8082 postgres://postgres@db.example:5432/parley_profile /home/kept" {
		t.Errorf("got %q", got)
	}
}

// TestInfraStopsCleanlyOnSIGTERMAndLeavesNoOrphanOnSIGKILL runs `devstack infra` as a process:
// SIGTERM stops it and everything it started; after SIGKILL its children die with it (their
// parent-death signal), and the next start finds the broker's records.
func TestInfraStopsCleanlyOnSIGTERMAndLeavesNoOrphanOnSIGKILL(t *testing.T) {
	bin := buildCLI(t)
	base, err := stack.FreePortBase()
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	for _, d := range []string{filepath.Dir(data), data} { // reachable by the postgres user
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	root, _ := filepath.Abs("..")
	env := append(os.Environ(),
		"PARLEY_PORT_BASE="+strconv.Itoa(base),
		"PARLEY_DATA_DIR="+filepath.Join(data, "data"),
		"PARLEY_NO_INSTALL=true",
	)
	start := func() (*exec.Cmd, *logtest.Buffer) {
		t.Helper()
		cmd := exec.Command(bin, "infra")
		cmd.Dir = root
		cmd.Env = env
		logs := &logtest.Buffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		deadline := time.Now().Add(3 * time.Minute)
		for !strings.Contains(logs.String(), "Ctrl-C stops everything") {
			if time.Now().After(deadline) || cmd.ProcessState != nil {
				t.Fatalf("infra did not come up:\n%s", logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		return cmd, logs
	}
	status := func() (int, string) {
		cmd := exec.Command(bin, "status", "--infra")
		cmd.Dir = root
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		return code, string(out)
	}

	cmd, logs := start()
	if code, out := status(); code != 0 {
		t.Fatalf("status --infra = %d while up:\n%s", code, out)
	}
	children := childPIDs(t, cmd.Process.Pid)
	if len(children) < 4 { // postgres, redis, s3, mail
		t.Fatalf("children of devstack: %v", children)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(fmt.Sprintf("127.0.0.1:%d", base+22)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topics.Friend, Key: []byte("k"), Value: []byte("before SIGKILL")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	// SIGKILL: no chance to stop anything; the kernel signals the children.
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	waitGone(t, children, logs)
	if code, out := status(); code != 1 || !strings.Contains(out, "DOWN") {
		t.Errorf("status after SIGKILL = %d:\n%s", code, out)
	}

	// The next start recovers (Postgres from its WAL, the broker from its segment files).
	cmd, logs = start()
	cl, err = kgo.NewClient(kgo.SeedBrokers(fmt.Sprintf("127.0.0.1:%d", base+22)),
		kgo.ConsumeTopics(topics.Friend), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for got == "" && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = string(r.Value) })
	}
	cl.Close()
	if got != "before SIGKILL" {
		t.Errorf("the broker lost a record produced before SIGKILL (got %q)", got)
	}

	// SIGTERM: a clean stop, exit status 0, nothing left.
	children = childPIDs(t, cmd.Process.Pid)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, logs.String())
	}
	waitGone(t, children, logs)
	if !strings.Contains(logs.String(), "msg=stopped") {
		t.Errorf("no clean stop in the log:\n%s", logs.String())
	}
}

// childPIDs lists the children of pid (of all its threads), from /proc.
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no /proc/%d/task/*/children: %v", pid, err)
	}
	var out []int
	for _, task := range tasks {
		b, _ := os.ReadFile(task)
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// waitGone waits until none of pids runs any more.
func waitGone(t *testing.T, pids []int, logs *logtest.Buffer) {
	t.Helper()
	waittest.UntilNil(t, "the dev stack's processes to end", func() error {
		var left []int
		for _, p := range pids {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p)); err == nil && !strings.Contains(string(b), ") Z ") {
				left = append(left, p)
			}
		}
		if len(left) > 0 {
			return fmt.Errorf("processes %v outlived the dev stack\n%s", left, logs.String())
		}
		return nil
	})
}

// TestSIGTERMToGoRunStopsTheStack: under `go run ./devstack up`, a SIGTERM to the go
// command alone (a process manager, an IDE's stop button) must not orphan the stack.
func TestSIGTERMToGoRunStopsTheStack(t *testing.T) {
	base, err := stack.FreePortBase()
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	for _, d := range []string{filepath.Dir(data), data} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "run", ".", "infra")
	cmd.Env = append(os.Environ(), "PARLEY_PORT_BASE="+strconv.Itoa(base), "PARLEY_DATA_DIR="+filepath.Join(data, "data"), "PARLEY_NO_INSTALL=true")
	logs := &logtest.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	// An orphaned dev stack would hold the output pipe open; the bound is generous because the
	// stack's own stop (Postgres' shutdown checkpoint) takes seconds on a busy machine, and the log
	// read until then is what shows it stopped cleanly. An orphan still fails waitGone below.
	cmd.WaitDelay = time.Minute
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(logs.String(), "Ctrl-C stops everything") {
		if time.Now().After(deadline) {
			t.Fatalf("infra did not come up:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	devstacks := childPIDs(t, cmd.Process.Pid)
	if len(devstacks) != 1 {
		t.Fatalf("children of go run: %v", devstacks)
	}
	all := append(devstacks, childPIDs(t, devstacks[0])...)
	t.Cleanup(func() { // if the test failed, leave nothing behind
		for _, p := range all {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	})

	_ = cmd.Process.Signal(syscall.SIGTERM) // to the go command only
	_ = cmd.Wait()
	waitGone(t, all, logs)
	if !strings.Contains(logs.String(), "msg=stopped") {
		t.Errorf("the dev stack did not stop cleanly:\n%s", logs.String())
	}
}

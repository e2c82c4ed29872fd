package main

// The private dev stack: the devstack binary run as a child on ports and a data directory of
// its own, so a load test never touches a developer's `make up` and always starts fresh.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// findRoot returns the nearest directory at or above dir holding tilt/services.json (the
// repository root), or "".
func findRoot(dir string) string {
	for {
		if _, err := os.Stat(filepath.Join(dir, "tilt", "services.json")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// freePortBase picks a PARLEY_PORT_BASE whose ports are all free: the dev stack's base+0..+49
// (services, infrastructure, admin listeners at +30..) with room to spare, and base+1000..+1040. Bases stay at or above 20000 and below the ephemeral range
// (32768), where outgoing connections would take ports at random.
func freePortBase() (int, error) {
	for base := 21000; base+1040 < 32768; base += 1000 {
		if portsFree(base, 60) && portsFree(base+1000, 41) {
			return base, nil
		}
	}
	return 0, errors.New("no free port range found between 21000 and 32767")
}

func portsFree(from, n int) bool {
	for p := from; p < from+n; p++ {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		ln.Close()
	}
	return true
}

// privateStack is a running `devstack up`.
type privateStack struct {
	cmd  *exec.Cmd
	base int
	log  *os.File
	tail *tailBuffer
	done chan struct{}
	err  error // the child's exit, once done is closed
}

// startPrivateStack runs bin up with a fresh data directory under dataDir and waits until the
// gateway's /readyz answers 200. Its output goes to logPath, not the terminal. extraEnv (KEY=VALUE)
// comes last and wins.
func startPrivateStack(ctx context.Context, bin, root, dataDir, logPath string, syncCommit string, extraEnv []string, timeout time.Duration) (*privateStack, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("the dev stack binary %s: %w (build it: go build -o .bin/devstack ./devstack; `make loadtest` does)", bin, err)
	}
	base, err := freePortBase()
	if err != nil {
		return nil, err
	}
	// Fresh every run: a previous run's messages and users would change what is measured. (As root
	// the Postgres files belong to the postgres user; root may still delete them.)
	if err := os.RemoveAll(dataDir); err != nil {
		return nil, fmt.Errorf("remove the previous private stack's data: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	s := &privateStack{base: base, log: logFile, tail: &tailBuffer{max: 40}, done: make(chan struct{})}
	cmd := exec.Command(bin, "up")
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"PARLEY_PORT_BASE="+strconv.Itoa(base),
		"PARLEY_DATA_DIR="+dataDir,
		"PARLEY_STOP_ON_CRASH=true",
		"PARLEY_PG_SYNCHRONOUS_COMMIT="+syncCommit,
		// Raised, not turned off: the limiter's Redis round trips stay in what is measured.
		"RATE_LIMIT_USER=1000000000",
		"RATE_LIMIT_AUTH=1000000000",
		// The dev stack traces every call by default (to its viewer); the figures are of the
		// system as it runs without OTEL_EXPORTER_OTLP_ENDPOINT. -stack-env
		// OTEL_SDK_DISABLED=false measures it traced (docs/telemetry.md#what-tracing-costs).
		"OTEL_SDK_DISABLED=true",
	)
	cmd.Env = append(cmd.Env, extraEnv...) // last, so they win
	out := io.MultiWriter(logFile, s.tail)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group: a Ctrl-C at the terminal reaches only the load generator, which
	// then stops the stack after printing what it measured. If the load generator dies, the
	// kernel sends the stack SIGTERM, which it handles as a clean stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s up: %w", bin, err)
	}
	s.cmd = cmd
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(ctx, timeout); err != nil {
		_ = s.stop(20 * time.Second)
		return nil, err
	}
	return s, nil
}

func (s *privateStack) waitReady(ctx context.Context, timeout time.Duration) error {
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", s.base)
	deadline := time.After(timeout)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if res, err := hc.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return fmt.Errorf("the private dev stack exited before it was ready (%w); its last lines:\n%s", s.err, s.tail)
		case <-deadline:
			return fmt.Errorf("the private dev stack was not ready within %s (%s); its last lines:\n%s", timeout, url, s.tail)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// running reports whether the stack is still up.
func (s *privateStack) running() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// stop sends SIGINT (the dev stack's clean stop) and waits; after timeout the whole process group
// is killed.
func (s *privateStack) stop(timeout time.Duration) error {
	defer s.log.Close()
	if !s.running() {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
		return nil
	case <-time.After(timeout):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
		return fmt.Errorf("the private dev stack did not stop within %s; killed", timeout)
	}
}

// tailBuffer keeps the last max lines written to it.
type tailBuffer struct {
	mu      sync.Mutex
	max     int
	lines   []string
	partial bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial.Write(p)
	for {
		line, err := t.partial.ReadString('\n')
		if err != nil { // no full line left: keep the rest for the next write
			rest := line
			t.partial.Reset()
			t.partial.WriteString(rest)
			break
		}
		t.lines = append(t.lines, strings.TrimRight(line, "\n"))
		if len(t.lines) > t.max {
			t.lines = t.lines[len(t.lines)-t.max:]
		}
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := append([]string(nil), t.lines...)
	if t.partial.Len() > 0 {
		lines = append(lines, t.partial.String())
	}
	return "  " + strings.Join(lines, "\n  ")
}

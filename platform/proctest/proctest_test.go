package proctest

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
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

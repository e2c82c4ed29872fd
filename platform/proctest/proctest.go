// Package proctest runs a server program as a child process of a test binary: started with its
// output captured, polled until it answers, and stopped — a signal, then a kill when it does not
// exit in time. Use it for the real servers tests talk to that have no in-process stand-in
// (mailpit in notification's mailpittest, versitygw in media's s3test).
package proctest

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Process is a running child started by Start.
type Process struct {
	cmd     *exec.Cmd
	out     strings.Builder // written until done is closed
	stopSig os.Signal
	done    chan struct{}
	err     error // how it exited, once done is closed
	once    sync.Once
}

// killAfter is how long Stop waits for the process to exit after its stop signal before it kills
// it (a variable for this package's tests).
var killAfter = 5 * time.Second

// pollEvery is the pause between two readiness checks.
const pollEvery = 25 * time.Millisecond

// Start runs cmd (its path, arguments, directory and environment set by the caller; its output is
// captured here) and calls ready until it returns nil, then returns the running process. stopSig
// is what Stop sends (SIGTERM or SIGINT, whichever the program treats as a clean stop). Start fails,
// with the program's output, when the process exits first or is not ready within timeout; it
// stops the process itself then.
func Start(cmd *exec.Cmd, stopSig os.Signal, timeout time.Duration, ready func() error) (*Process, error) {
	p := &Process{cmd: cmd, stopSig: stopSig, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited before it was ready (%w): %s", cmd.Path, p.err, p.Output())
		case <-time.After(pollEvery):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("%s not ready within %s (%w): %s", cmd.Path, timeout, err, p.Output())
		}
	}
}

// Stop sends the stop signal, waits up to 5 seconds for the process to exit and kills it
// otherwise. It returns once the process has exited; calling it again does nothing.
func (p *Process) Stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(p.stopSig)
		select {
		case <-p.done:
		case <-time.After(killAfter):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// Output is what the process wrote to stdout and stderr. Call it once the process has exited
// (after Stop): until then the output is still being written.
func (p *Process) Output() string {
	<-p.done
	return p.out.String()
}

// HTTPOK is a readiness check for Start: it succeeds when GET url answers 200 OK.
func HTTPOK(url string) error {
	res, err := http.Get(url)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return nil
}

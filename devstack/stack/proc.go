package stack

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// procSpec describes a child process.
type procSpec struct {
	name string
	path string
	args []string
	dir  string
	env  []string
	// cred runs the process as another user (Postgres as postgres when we are root).
	cred *syscall.Credential
	// stopSignal asks it to stop (SIGTERM unless set); it is also the signal the child gets when
	// the dev stack dies without stopping it (Linux parent-death signal).
	stopSignal syscall.Signal
	out        *LineWriter
}

// process is a running child in a process group of its own, so a terminal's Ctrl-C reaches only
// the dev stack, which stops the children in order, and a stop reaches the child's own children.
type process struct {
	spec    procSpec
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	err     error // exit status, valid once done is closed
}

func startProcess(spec procSpec) (*process, error) {
	if spec.stopSignal == 0 {
		spec.stopSignal = syscall.SIGTERM
	}
	cmd := exec.Command(spec.path, spec.args...)
	cmd.Dir = spec.dir
	cmd.Env = spec.env
	cmd.Stdout = spec.out
	cmd.Stderr = spec.out
	cmd.SysProcAttr = sysProcAttr(spec.stopSignal)
	cmd.SysProcAttr.Credential = spec.cred
	// A grandchild holding the output pipe open must not block Wait forever.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.name, err)
	}
	p := &process{spec: spec, cmd: cmd, started: time.Now(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		spec.out.Flush()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitStatus says how the process ended ("exit status 1", "signal: killed").
func exitStatus(p *process) string {
	<-p.done
	if p.err == nil {
		return "exit status 0"
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.String()
	}
	return p.err.Error()
}

// exitError describes how the process ended, with its last lines of output.
func (p *process) exitError() error {
	return fmt.Errorf("%s ended (%s) after %s; its last lines:\n%s", p.spec.name, exitStatus(p),
		time.Since(p.started).Round(100*time.Millisecond), tailText(p.spec.out))
}

// stop sends the stop signal to the process, waits up to timeout, then kills its whole process
// group. It returns once the process has exited, and whether it had to be killed. Any of its
// children left behind are killed too.
func (p *process) stop(timeout time.Duration) (killed bool) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(p.spec.stopSignal)
		select {
		case <-p.done:
		case <-time.After(timeout):
			fmt.Fprintf(p.spec.out, "(devstack) no exit %s after the stop signal; killing it\n", timeout)
			_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
			<-p.done
			killed = true
		}
	}
	// The group leader is gone; nothing of its group may outlive it.
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	return killed
}

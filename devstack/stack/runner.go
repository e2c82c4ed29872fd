package stack

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Restart policy for a service that exits on its own (unless Options.StopOnCrash): restart after
// 1s, doubling to 30s while it keeps crashing; a run of a minute or more resets the delay. While
// the stack is starting, the third crash fails the start instead.
const (
	firstBackoff      = time.Second
	maxBackoff        = 30 * time.Second
	stableRun         = time.Minute
	maxStartupCrashes = 3
)

var errStopped = errors.New("stack is stopping")

// runner keeps one service process running: the service's only one, or one of its replicas.
type runner struct {
	s       *Stack
	svc     Service
	replica int // 1-based when the stack runs replicas (Options.Replicas > 1), else 0
	spec    procSpec
	url     string // where this process answers (its replica's port when replicated)

	mu         sync.Mutex
	proc       *process
	firstStart time.Time
	crashes    int
	lastExit   error // the last crash, with its output
	lastErr    error // the last failed health check
	stopped    bool
	// planned is a process the stack is stopping on purpose (RestartReplica): its exit is not a
	// crash, and supervise starts the next one at once.
	planned *process
}

func (r *runner) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return errStopped
	}
	p, err := startProcess(r.spec)
	if err != nil {
		return err
	}
	r.proc = p
	if r.firstStart.IsZero() {
		r.firstStart = p.started
	}
	return nil
}

// stop stops the service for good; a pending restart will not happen.
func (r *runner) stop() {
	r.mu.Lock()
	r.stopped = true
	p := r.proc
	r.mu.Unlock()
	if p != nil {
		p.stop(r.s.o.StopTimeout)
	}
}

// supervise waits for the process to exit on its own and then restarts it (or fails the stack).
func (r *runner) supervise() {
	defer r.s.wg.Done()
	backoff := firstBackoff
	for {
		r.mu.Lock()
		p := r.proc
		r.mu.Unlock()
		select {
		case <-r.s.stopping:
			return
		case <-p.done:
		}
		select {
		case <-r.s.stopping:
			return // asked to stop, not a crash
		default:
		}
		r.mu.Lock()
		planned := r.planned == p
		r.mu.Unlock()
		if planned {
			if err := r.start(); err != nil {
				if !errors.Is(err, errStopped) {
					r.s.fail(fmt.Errorf("restart %s: %w", r.spec.name, err))
				}
				return
			}
			continue
		}
		exit := p.exitError()
		r.mu.Lock()
		r.crashes++
		r.lastExit = exit
		r.mu.Unlock()
		if r.s.o.StopOnCrash {
			r.s.fail(fmt.Errorf("service %w", exit))
			return
		}
		if time.Since(p.started) >= stableRun {
			backoff = firstBackoff
		}
		r.s.log.Error("service exited; restarting it", "service", r.spec.name, "status", exitStatus(p), "in", backoff)
		select {
		case <-r.s.stopping:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
		if err := r.start(); err != nil {
			if !errors.Is(err, errStopped) {
				r.s.fail(fmt.Errorf("restart %s: %w", r.spec.name, err))
			}
			return
		}
		r.s.log.Info("service restarted", "service", r.spec.name, "pid", r.pid())
	}
}

// startupFailure is non-nil once the service has crashed too often to wait for it.
func (r *runner) startupFailure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.crashes >= maxStartupCrashes {
		return fmt.Errorf("service %s crashed %d times while starting; the last time: %w", r.spec.name, r.crashes, r.lastExit)
	}
	return nil
}

func (r *runner) crashNote() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.crashes == 0 {
		return ""
	}
	return fmt.Sprintf(" (it crashed %d times)", r.crashes)
}

func (r *runner) setLastErr(err error) {
	r.mu.Lock()
	r.lastErr = err
	r.mu.Unlock()
}

func (r *runner) getLastErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// pid is the service's current process id (it changes when the service is restarted).
func (r *runner) pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc.pid()
}

// Restarts is how many times service name (every replica of it) has exited on its own since the
// stack started; stops the stack asked for (RestartReplica) are not counted.
func (s *Stack) Restarts(name string) int {
	n := 0
	for _, r := range s.services {
		if r.svc.Name == name {
			r.mu.Lock()
			n += r.crashes
			r.mu.Unlock()
		}
	}
	return n
}

// PID is the process id of service name's current process (its first replica's), or 0.
func (s *Stack) PID(name string) int {
	for _, r := range s.services {
		if r.svc.Name == name {
			return r.pid()
		}
	}
	return 0
}

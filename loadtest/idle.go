package main

// Idle WebSockets: what an open, authenticated, silent connection costs the gateway in memory,
// beside what the same connections cost a bare coder/websocket server (the library's own floor),
// opened by the same client code in the same run.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// idleDialConcurrency bounds the upgrades in flight while opening idle sockets.
const idleDialConcurrency = 64

// IdleRun is one server's memory with N idle sockets.
type IdleRun struct {
	Skipped            string         `json:"skipped,omitempty"`
	PID                int            `json:"pid,omitempty"`
	Opened             int            `json:"opened"`
	Failed             int            `json:"failed"`
	Failures           map[string]int `json:"failures,omitempty"` // by reason
	StoppedByFileLimit bool           `json:"stopped_by_file_limit"`
	OpenSeconds        float64        `json:"open_seconds"`
	RSSBeforeBytes     int64          `json:"rss_before_bytes"`
	RSSAfterBytes      int64          `json:"rss_after_bytes"`
	// KBPerConnection = (RSS after − RSS before) / opened, in KiB.
	KBPerConnection float64 `json:"kb_per_connection"`
	// From the process's /debug/pprof (after a forced GC), when it serves one: what the Go code
	// holds (heap in use + goroutine stacks) and its goroutines, before and after. RSS is what
	// the OS charges; these say where it goes and are not blurred by memory the runtime has
	// freed but not yet returned.
	Runtime *RuntimeDelta `json:"runtime,omitempty"`
	CPU     *PhaseCPU     `json:"cpu,omitempty"`
}

// RuntimeDelta is the Go runtime's view of the idle connections.
type RuntimeDelta struct {
	Before                  goRuntime `json:"before"`
	After                   goRuntime `json:"after"`
	HeapKBPerConnection     float64   `json:"heap_kb_per_connection"` // (heap in use + stacks) Δ / opened
	HeapOnlyKBPerConnection float64   `json:"heap_only_kb_per_connection"`
	StackKBPerConnection    float64   `json:"stack_kb_per_connection"`
	GoroutinesPerConnection float64   `json:"goroutines_per_connection"`
}

// IdleSockets compares the gateway with the bare server.
type IdleSockets struct {
	Skipped      string  `json:"skipped,omitempty"`
	Requested    int     `json:"requested"`
	ConnsPerUser int     `json:"conns_per_user"`
	Users        int     `json:"users"`
	Gateway      IdleRun `json:"gateway"`
	Bare         IdleRun `json:"bare_server"`
	// Ratio is the gateway's KB per connection over the bare server's.
	Ratio float64 `json:"ratio"`
	// FileLimit is this process's RLIMIT_NOFILE; GatewayFileLimit the gateway's (0: unknown).
	FileLimit        uint64   `json:"file_limit"`
	GatewayFileLimit int64    `json:"gateway_file_limit"`
	Notes            []string `json:"notes,omitempty"`
}

func (r *runner) runIdle(ctx context.Context) IdleSockets {
	res := IdleSockets{Requested: r.cfg.IdleConns, ConnsPerUser: r.cfg.ConnsPerUser, Users: len(r.idleUsers), FileLimit: r.fileLimit}
	if r.cfg.IdleConns == 0 || len(r.idleUsers) == 0 {
		res.Skipped = "no idle connections asked for"
		return res
	}
	if need := uint64(r.cfg.IdleConns) + 200; r.fileLimit > 0 && need > r.fileLimit {
		res.Notes = append(res.Notes, fmt.Sprintf("this process may open %d files (RLIMIT_NOFILE, hard limit): fewer than the %d sockets asked for plus what the run already holds, so the file limit will stop the run early", r.fileLimit, r.cfg.IdleConns))
	}
	gwPID := r.cpu.pid("gateway")
	if gwPID == 0 {
		res.Gateway.Skipped = "the gateway process is not on this machine: its memory cannot be read"
	} else {
		if b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(gwPID), "limits")); err == nil {
			if n, ok := parseMaxOpenFiles(string(b)); ok {
				res.GatewayFileLimit = n
				if n < int64(r.cfg.IdleConns)+100 {
					res.Notes = append(res.Notes, fmt.Sprintf("the gateway process may open %d files: fewer than the %d sockets asked for, so its file limit will refuse some", n, r.cfg.IdleConns))
				}
			}
		}
		token := func(i int) string { return r.idleUsers[i/r.cfg.ConnsPerUser].token }
		pprofURL := ""
		if port, ok := r.tgt.AdminPorts["gateway"]; ok {
			pprofURL = fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", port)
		}
		res.Gateway = r.measureIdle(ctx, "gateway", gwPID, pprofURL, wsURL(r.tgt.GatewayURL), token, true)
	}
	if ctx.Err() == nil {
		res.Bare = r.measureBare(ctx)
	}
	if res.Bare.KBPerConnection > 0 {
		res.Ratio = res.Gateway.KBPerConnection / res.Bare.KBPerConnection
	}
	return res
}

// measureIdle opens the sockets against the process pid, waits for them to settle, reads its
// memory (and its Go runtime's, from pprofURL when not empty), and closes them.
func (r *runner) measureIdle(ctx context.Context, label string, pid int, pprofURL, url string, token func(int) string, waitReady bool) IdleRun {
	run := IdleRun{PID: pid, Failures: map[string]int{}}
	rtOK := false
	if pprofURL != "" {
		rtBefore, err := readGoRuntime(ctx, pprofURL)
		if err == nil {
			run.Runtime, rtOK = &RuntimeDelta{Before: rtBefore}, true
		}
	}
	rssBefore, err := readRSS("/proc", pid)
	if err != nil {
		run.Skipped = "cannot read its memory: " + err.Error()
		return run
	}
	run.RSSBeforeBytes = rssBefore
	conns := make([]*websocket.Conn, r.cfg.IdleConns)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.CloseNow()
			}
		}
	}()
	before := r.cpu.snapshot()
	r.openIdle(ctx, label, url, token, waitReady, conns, &run)
	select {
	case <-ctx.Done():
	case <-time.After(r.cfg.Settle):
	}
	after := r.cpu.snapshot()
	cpu := r.cpu.diff(before, after, "connection", int64(run.Opened))
	run.CPU = &cpu
	rssAfter, err := readRSS("/proc", pid)
	if err != nil {
		run.Skipped = "cannot read its memory after opening: " + err.Error()
		return run
	}
	run.RSSAfterBytes = rssAfter
	if run.Opened > 0 {
		run.KBPerConnection = float64(rssAfter-rssBefore) / 1024 / float64(run.Opened)
	}
	if rtOK {
		after, err := readGoRuntime(ctx, pprofURL)
		if err != nil || run.Opened == 0 {
			run.Runtime = nil
		} else {
			run.Runtime.perConnection(after, run.Opened)
		}
	}
	return run
}

// openIdle opens a WebSocket to url into each of conns, idleDialConcurrency at a time, and records
// in run how many opened and failed (by reason), how long it took, and whether the file limit
// stopped it (every further dial would fail the same way, so it stops there).
func (r *runner) openIdle(ctx context.Context, label, url string, token func(int) string, waitReady bool, conns []*websocket.Conn, run *IdleRun) {
	hc := newWSHTTPClient()
	start := time.Now()
	var opened, failed atomic.Int64
	var fileLimit atomic.Bool
	var mu sync.Mutex
	stop := every(start, func(el time.Duration) {
		r.prog.show("idle-%s %s  open %s/%s  failed %s", label, secs(el), thousands(opened.Load()), thousands(int64(r.cfg.IdleConns)), thousands(failed.Load()))
	})
	octx, cancel := context.WithCancel(ctx)
	sem := make(chan struct{}, idleDialConcurrency)
	var wg sync.WaitGroup
	for i := range conns {
		if octx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := dialWS(octx, hc, url, token(i), waitReady)
			if err != nil {
				if octx.Err() != nil {
					return
				}
				failed.Add(1)
				reason := err.Error()
				if errors.Is(err, errFileLimit) {
					fileLimit.Store(true)
					cancel() // stop opening: every further dial fails the same way
				}
				mu.Lock()
				run.Failures[shortReason(reason)]++
				mu.Unlock()
				return
			}
			conns[i] = c
			opened.Add(1)
			go discardFrames(c)
		}()
	}
	wg.Wait()
	cancel()
	run.OpenSeconds = time.Since(start).Seconds()
	stop()
	r.prog.end()
	run.Opened, run.Failed = int(opened.Load()), int(failed.Load())
	run.StoppedByFileLimit = fileLimit.Load()
	if run.StoppedByFileLimit {
		r.prog.note("the file limit (RLIMIT_NOFILE %d) stopped opening sockets at %d of %d", r.fileLimit, run.Opened, r.cfg.IdleConns)
	}
}

// perConnection sets the runtime's state after n connections were opened, and what each holds.
func (rt *RuntimeDelta) perConnection(after goRuntime, n int) {
	rt.After = after
	per := float64(n)
	rt.HeapKBPerConnection = float64(after.held()-rt.Before.held()) / 1024 / per
	rt.HeapOnlyKBPerConnection = float64(after.HeapInuseBytes-rt.Before.HeapInuseBytes) / 1024 / per
	rt.StackKBPerConnection = float64(after.StackInuseBytes-rt.Before.StackInuseBytes) / 1024 / per
	rt.GoroutinesPerConnection = float64(after.Goroutines-rt.Before.Goroutines) / per
}

// shortReason trims an error to a stable reason for counting (addresses and ports removed).
func shortReason(s string) string {
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s)-i < 80 {
		return s[i+2:]
	}
	if len(s) > 120 {
		return s[:120]
	}
	return s
}

// measureBare starts the bare server (this binary, `loadtest bare-ws-server`), measures it like
// the gateway, and stops it.
func (r *runner) measureBare(ctx context.Context) IdleRun {
	exe, err := os.Executable()
	if err != nil {
		return IdleRun{Skipped: "cannot find this program to start the bare server: " + err.Error()}
	}
	cmd := exec.Command(exe, bareServerCommand)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return IdleRun{Skipped: err.Error()}
	}
	if err := cmd.Start(); err != nil {
		return IdleRun{Skipped: "start the bare server: " + err.Error()}
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return IdleRun{Skipped: "the bare server did not say where it listens: " + err.Error()}
	}
	addr = strings.TrimSpace(addr)
	// Let it reach its resting size before the first reading, as the gateway has.
	if err := waitHTTP(ctx, "http://"+addr+"/debug/pprof/"); err != nil {
		return IdleRun{Skipped: "the bare server does not answer: " + err.Error()}
	}
	token := func(i int) string { return r.idleUsers[i/r.cfg.ConnsPerUser].token }
	return r.measureIdle(ctx, "bare", cmd.Process.Pid, "http://"+addr+"/debug/pprof/", "ws://"+addr+"/ws", token, false)
}

// waitHTTP waits until url answers at all (any status).
func waitHTTP(ctx context.Context, url string) error {
	hc := &http.Client{Timeout: time.Second}
	var err error
	for range 50 {
		var res *http.Response
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if res, err = hc.Do(req); err == nil {
			res.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

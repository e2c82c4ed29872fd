package main

// The run: find the processes, set up users, run the selected phases in order, fill the report.
// The command and the integration test both go through runner.run.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

type runner struct {
	cfg       config
	tgt       target
	outDir    string
	fileLimit uint64
	prog      *progressLine
	cpu       *cpuWatch
	api       *apiClients
	wsHC      *http.Client
	tr        *tracker
	runID     string
	restCores float64 // the stack's CPU at rest, measured after setup

	msgUsers  []*user
	idleUsers []*user
	pairs     []*pair
	socks     []*websocket.Conn
}

func newRunner(cfg config, tgt target, outDir string, fileLimit uint64, progress io.Writer) *runner {
	// Room for every sender's connection plus the gateway-overhead workers.
	hc := newHTTPClient(max(2*cfg.Pairs, cfg.Workers))
	return &runner{
		cfg:       cfg,
		tgt:       tgt,
		outDir:    outDir,
		fileLimit: fileLimit,
		prog:      newProgressLine(progress),
		api:       newAPIClients(hc, tgt.GatewayURL, cfg.Codec),
		wsHC:      newWSHTTPClient(),
		tr:        newTracker(),
		runID:     newRunID(),
	}
}

// findProcesses locates the stack's processes by their ports and names the broker after what
// it turns out to be.
func (r *runner) findProcesses() {
	r.cpu = newCPUWatch("/proc", r.tgt.processWants())
	broker := r.cpu.pid("broker")
	if broker == 0 {
		return
	}
	label := ""
	switch {
	case broker == r.cpu.selfPID:
		label = "broker (this process)"
	case r.cpu.pid("gateway") != 0:
		if t, err := readProcStat("/proc", r.cpu.pid("gateway")); err == nil && t.PPid == broker {
			// The dev stack embeds the broker; the same process also runs the log console
			// that every service's output passes through.
			label = "broker (devstack process)"
		}
	}
	if label != "" {
		for i := range r.cpu.procs {
			if r.cpu.procs[i].Name == "broker" {
				r.cpu.procs[i].Name = label
			}
		}
	}
}

// run fills rep phase by phase. An error means the run could not go on (setup failed); what was
// measured until then is in rep either way.
func (r *runner) run(ctx context.Context, rep *Report) error {
	r.findProcesses()
	r.noteTarget(ctx, rep)

	setup, err := r.setup(ctx)
	rep.Setup = &setup
	defer r.closeSockets()
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	rep.Notes = append(rep.Notes, setup.Notes...)

	// Let setup's own aftermath (registration events in every consumer) finish, so the first
	// phase measures only itself, and learn what the stack burns at rest.
	if r.tgt.Local && ctx.Err() == nil {
		r.prog.note("waiting for the stack to come to rest ...")
		r.restCores = r.waitForRest(ctx)
		rep.StackRestCores = r.restCores
	}

	if r.cfg.has(phasePG) && ctx.Err() == nil {
		r.prog.note("phase 1/5: raw Postgres INSERT baseline")
		pg := r.runPGBaseline(ctx)
		rep.PGBaseline = &pg
		if pg.Skipped != "" {
			rep.Notes = append(rep.Notes, "Postgres baseline skipped: "+pg.Skipped)
		}
	}
	if r.cfg.has(phaseGateway) && ctx.Err() == nil {
		r.prog.note("phase 2/5: unary call straight to profile, then through the gateway")
		g := r.runGatewayOverhead(ctx)
		rep.GatewayOverhead = &g
		if g.Gateway.Skipped == errRateLimited.Error() {
			rep.Notes = append(rep.Notes, "GetProfile through the gateway was refused: "+errRateLimited.Error())
		}
	}
	if r.cfg.has(phaseClosed) && ctx.Err() == nil {
		r.prog.note("phase 3/5: messages, closed loop (%d senders, %s)", 2*len(r.pairs), r.cfg.Duration)
		c := r.runMessages(ctx, modeClosed, 0)
		rep.ClosedLoop = &c
		rep.Notes = append(rep.Notes, drainNotes(&c, r.tgt.Local)...)
		if c.Delivery.SendErrors["resource_exhausted"] > 0 {
			rep.Notes = append(rep.Notes, "some sends were refused with resource_exhausted: "+errRateLimited.Error())
		}
	}
	if r.cfg.has(phaseOpen) && ctx.Err() == nil {
		if rate := r.openLoopRate(rep.ClosedLoop); rate <= 0 {
			rep.OpenLoop = &MessagePhase{Mode: modeOpen, Skipped: "no rate: give -rate, or run the closed loop first (its delivered/s halved is the default)"}
		} else {
			r.prog.note("phase 4/5: messages, open loop at %s/s", num(rate))
			o := r.runMessages(ctx, modeOpen, rate)
			rep.OpenLoop = &o
			rep.Notes = append(rep.Notes, drainNotes(&o, r.tgt.Local)...)
		}
	}
	if r.cfg.has(phaseIdle) && ctx.Err() == nil {
		r.prog.note("phase 5/5: %s idle WebSockets on the gateway, then on a bare coder/websocket server", thousands(int64(r.cfg.IdleConns)))
		is := r.runIdle(ctx)
		rep.IdleSockets = &is
		rep.Notes = append(rep.Notes, is.Notes...)
	}
	return nil
}

// noteTarget records the chat database's synchronous_commit, and notes what this target's
// figures cannot include.
func (r *runner) noteTarget(ctx context.Context, rep *Report) {
	if r.tgt.PostgresURL != "" {
		rep.SynchronousCommit = readSyncCommit(ctx, r.tgt.PostgresURL, "parley_chat")
	} else {
		rep.SynchronousCommit = SyncCommit{Database: "parley_chat", Error: "no Postgres URL"}
	}
	for _, p := range r.cpu.procs {
		if p.PID == 0 && r.tgt.Local && p.Port != 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s: nothing listens on port %d on this machine; its CPU is not measured", p.Name, p.Port))
		}
	}
	if !r.tgt.Local {
		rep.Notes = append(rep.Notes, "the gateway is not on this machine: CPU per process and memory per socket are not measured")
	}
}

// openLoopRate is the open loop's rate: -rate, else half what the closed loop delivered (or,
// when it delivered nothing, sent); 0 when neither is known.
func (r *runner) openLoopRate(closed *MessagePhase) float64 {
	if r.cfg.Rate != 0 || closed == nil {
		return r.cfg.Rate
	}
	if closed.DeliveredPerSecond != 0 {
		return 0.5 * closed.DeliveredPerSecond
	}
	return 0.5 * closed.SentPerSecond
}

// waitForRest measures the stack's CPU in one-second windows until it stops falling (or is
// negligible), at most ten, and returns the last rate in cores.
func (r *runner) waitForRest(ctx context.Context) float64 {
	prev := -1.0
	var rate float64
	for range 10 {
		if ctx.Err() != nil {
			break
		}
		rate = r.cpu.measureRest(time.Second)
		r.prog.show("stack CPU at rest: %.2f cores", rate)
		if rate <= quietFloorCores || (prev >= 0 && rate >= 0.8*prev) {
			break
		}
		prev = rate
	}
	r.prog.end()
	return rate
}

// drainNotes says what a message phase's drain did not see end.
func drainNotes(m *MessagePhase, local bool) []string {
	var notes []string
	if m.Skipped != "" || m.Interrupted {
		return nil
	}
	if !m.DrainComplete {
		notes = append(notes, fmt.Sprintf("%s: not every message reached both sockets within the drain (%.0fs); see lost and sender_echo_missing", m.Mode, m.DrainSeconds))
	} else if local && !m.StackAtRest {
		notes = append(notes, fmt.Sprintf("%s: the stack was still busy when the drain ended (%.0fs): its CPU per message misses the work still queued (raise -drain)", m.Mode, m.DrainSeconds))
	}
	return notes
}

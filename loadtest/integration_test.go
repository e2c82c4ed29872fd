package main

import (
	"context"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/devstack/stack"
	"github.com/parleyhq/parley/devstack/stack/stacktest"
)

// TestMain lets the test binary stand in for the command when the idle phase re-executes itself
// as the bare WebSocket server.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == bareServerCommand {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := runBareServer(ctx, os.Stdout)
		stop()
		if err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testLog is the progress writer of a test: lines go to t.Log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestRunAgainstTheRealStack runs a tiny closed loop and idle-socket phase through the code the
// command runs, against the whole stack (every service its own process), and checks the
// accounting found every message delivered exactly once, in order, and the processes measured.
// It asserts no timings or rates.
func TestRunAgainstTheRealStack(t *testing.T) {
	s := stacktest.Start(t, stack.Options{
		// Raised, not off, as the command does for its own stack.
		Environ: func() []string {
			return append(os.Environ(), "RATE_LIMIT_USER=1000000000", "RATE_LIMIT_AUTH=1000000000")
		},
	})
	cfg, err := parseFlags([]string{
		"-phases", "closed,idle", "-pairs", "2", "-duration", "2s", "-drain", "60s",
		"-idle-conns", "50", "-conns-per-user", "10", "-settle", "500ms", "-profile",
	}, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	tgt := stackTarget(s.Options().PortBase, cfg.AdminOffset)
	if tgt.GatewayURL != s.GatewayURL() || tgt.ProfileURL != s.ServiceURL("profile") || tgt.PostgresURL != s.DatabaseURL() ||
		tgt.RedisURL != s.RedisURL() || tgt.KafkaAddr != s.KafkaBrokers()[0] {
		t.Fatalf("the port layout disagrees with the dev stack's: %+v", tgt)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	r := newRunner(cfg, tgt, t.TempDir(), raiseFileLimit(), testLog{t})
	rep := &Report{}
	if err := r.run(ctx, rep); err != nil {
		t.Fatal(err)
	}

	if rep.SynchronousCommit.Setting == "" {
		t.Errorf("synchronous_commit not read: %+v", rep.SynchronousCommit)
	}
	if f := rep.Setup.FirstMessages; f.Sent != 2 || f.Lost != 0 || f.SenderEchoMissing != 0 {
		t.Errorf("first messages: %+v", f)
	}
	c := rep.ClosedLoop
	if c == nil || c.Skipped != "" {
		t.Fatalf("closed loop did not run: %+v", c)
	}
	d := c.Delivery
	t.Logf("closed loop: %d sent, %d delivered, errors %v, frames %v", d.Sent, d.Delivered, d.SendErrors, d.FramesByType)
	if d.Sent == 0 || d.Delivered != d.Sent || d.Lost != 0 || d.Duplicated != 0 || d.OrderViolations != 0 || d.Gaps != 0 ||
		d.SenderEchoMissing != 0 || len(d.SendErrors) != 0 || d.UnmatchedMessages != 0 || !c.DrainComplete {
		t.Errorf("closed loop delivery: %+v (drain complete %v)", d, c.DrainComplete)
	}
	if d.FramesByType["message"] != 2*d.Sent {
		t.Errorf("message frames = %d, want one per socket per message = %d", d.FramesByType["message"], 2*d.Sent)
	}
	if d.SendLatency.Count != d.Sent || d.EndToEndLatency.Count != d.Delivered {
		t.Errorf("latency samples: send %d, e2e %d", d.SendLatency.Count, d.EndToEndLatency.Count)
	}
	found := map[string]ProcessCPU{}
	for _, p := range c.CPU.Processes {
		found[p.Name] = p
	}
	for _, name := range []string{"gateway", "chat", "postgres", "redis"} {
		if p := found[name]; !p.Found || p.CPUSeconds <= 0 {
			t.Errorf("CPU of %s: %+v", name, p)
		}
	}
	// The embedded broker runs in this test's process, so it is not part of the stack's total.
	if p := found["broker (this process)"]; !p.Found || p.InStackTotal {
		t.Errorf("broker: %+v (all: %+v)", p, c.CPU.Processes)
	}

	// -profile: a CPU profile from every service's admin listener and of the load generator
	// itself, and the statistics of Postgres and Redis, reset before the phase.
	p := c.Profiles
	if p == nil {
		t.Fatal("no profiles")
	}
	for _, pr := range p.Pprof {
		if pr.Error != "" || pr.Bytes == 0 {
			t.Errorf("pprof of %s: %+v", pr.Service, pr)
		}
	}
	if len(p.Pprof) != len(serviceOffsets)+1 || !slices.ContainsFunc(p.Pprof, func(pr PprofResult) bool { return pr.Service == "loadtest" }) {
		t.Errorf("%d profiles, want one per service and the load generator's: %+v", len(p.Pprof), p.Pprof)
	}
	if p.PGSkipped != "" || len(p.PGStatements) == 0 || !slices.ContainsFunc(p.PGStatements, func(s PGStatement) bool { return s.Database == "parley_chat" }) {
		t.Errorf("pg_stat_statements: skipped %q, %d statements", p.PGSkipped, len(p.PGStatements))
	}
	if p.RedisSkipped != "" || len(p.RedisCommands) == 0 {
		t.Errorf("redis commandstats: skipped %q, %+v", p.RedisSkipped, p.RedisCommands)
	}

	is := rep.IdleSockets
	if is == nil || is.Skipped != "" {
		t.Fatalf("idle phase did not run: %+v", is)
	}
	if is.Users != 5 || is.Gateway.Opened != 50 || is.Gateway.Failed != 0 || is.Gateway.RSSAfterBytes == 0 || is.Gateway.PID == 0 {
		t.Errorf("gateway idle sockets: %+v", is.Gateway)
	}
	if is.Bare.Skipped != "" || is.Bare.Opened != 50 || is.Bare.Failed != 0 || is.Bare.RSSAfterBytes == 0 {
		t.Errorf("bare server idle sockets: %+v", is.Bare)
	}
	// Both serve /debug/pprof (the gateway on its admin listener): 50 more connections are 50
	// more blocked readers at least.
	for name, run := range map[string]IdleRun{"gateway": is.Gateway, "bare server": is.Bare} {
		if rt := run.Runtime; rt == nil || rt.After.Goroutines < rt.Before.Goroutines+50 || rt.After.HeapInuseBytes == 0 {
			t.Errorf("%s runtime readings: %+v", name, rt)
		}
	}
}

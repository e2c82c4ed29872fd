// Command loadtest measures a Parley deployment the way an operator sizing one would: it signs
// users up and makes friendships through the public API, drives SendMessage through the gateway
// and receives on the recipients' WebSockets, and reports every figure beside a baseline measured
// in the same run (raw Postgres INSERTs, the same RPC without the gateway, a bare WebSocket
// server), with CPU per process from /proc. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first Ctrl-C (which stops the load and prints what was measured), a second
		// one ends the program at once; the private stack then gets its parent-death signal.
		<-ctx.Done()
		stop()
	}()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "loadtest: %v\n", err)
		os.Exit(1)
	}
}

// run is the whole command: the report goes to stdout, progress and notes to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == bareServerCommand {
		return runBareServer(ctx, stdout)
	}
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	fileLimit := raiseFileLimit()
	cwd, err := os.Getwd()
	if err != nil {
		return err
	}
	root := findRoot(cwd)
	outDir := cfg.OutDir
	if !filepath.IsAbs(outDir) {
		outDir = filepath.Join(firstNonEmpty(root, cwd), outDir)
	}
	started := time.Now()
	jsonPath := cfg.JSONPath
	if jsonPath == "" {
		jsonPath = filepath.Join(outDir, "report-"+started.UTC().Format("20060102T150405Z")+".json")
	}
	rep := &Report{
		ReportVersion: reportVersion,
		Started:       started.UTC().Format(time.RFC3339),
		Flags:         cfg,
		Machine:       describeMachine(started),
	}
	rep.Machine.OpenFileLimit = fileLimit
	prog := newProgressLine(stderr)

	var tgt target
	var stk *privateStack
	if cfg.Gateway == "" {
		if root == "" {
			return errors.New("the Parley repository was not found above the working directory: run from it (to start a private dev stack), or give -gateway")
		}
		bin := cfg.Devstack
		if !filepath.IsAbs(bin) {
			bin = filepath.Join(root, bin)
		}
		logPath := filepath.Join(outDir, "stack.log")
		prog.note("starting a private dev stack (its output: %s) ...", logPath)
		t0 := time.Now()
		stk, err = startPrivateStack(ctx, bin, root, filepath.Join(outDir, "stack"), logPath, cfg.SynchronousCommit, cfg.StackEnv, cfg.StackTimeout)
		if err != nil {
			return err
		}
		defer func() {
			prog.note("stopping the private dev stack ...")
			if err := stk.stop(30 * time.Second); err != nil {
				prog.note("%v", err)
			}
		}()
		tgt = stackTarget(stk.base, cfg.AdminOffset)
		tgt.PrivateStack = true
		rep.StackLog = logPath
		prog.note("private dev stack ready at %s (PARLEY_PORT_BASE=%d) in %.1fs", tgt.GatewayURL, stk.base, time.Since(t0).Seconds())
	} else {
		if tgt, err = deploymentTarget(cfg); err != nil {
			return err
		}
	}
	rep.Target = tgt

	r := newRunner(cfg, tgt, outDir, fileLimit, stderr)
	runErr := r.run(ctx, rep)
	rep.Finished = time.Now().UTC().Format(time.RFC3339)
	rep.Machine.LoadAvgEnd = loadAvg()
	rep.Interrupted = ctx.Err() != nil
	if stk != nil && !stk.running() {
		rep.Notes = append(rep.Notes, "the private dev stack stopped during the run (a service crashed?): see "+rep.StackLog)
	}
	if runErr != nil && rep.Interrupted {
		runErr = nil // Ctrl-C during setup: nothing failed
	}
	if runErr != nil && rep.PGBaseline == nil && rep.GatewayOverhead == nil && rep.ClosedLoop == nil {
		return runErr
	}
	writeText(stdout, rep)
	if err := writeJSON(jsonPath, rep); err != nil {
		fmt.Fprintf(stdout, "\ncould not write the JSON report: %v\n", err)
	} else {
		fmt.Fprintf(stdout, "\nJSON report: %s\n", jsonPath)
	}
	return runErr
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

package main

// Flags. Every figure the tool prints depends on these, so the report repeats them.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Phase names, in the order they run.
const (
	phasePG      = "pg"
	phaseGateway = "gateway"
	phaseClosed  = "closed"
	phaseOpen    = "open"
	phaseIdle    = "idle"
)

var allPhases = []string{phasePG, phaseGateway, phaseClosed, phaseOpen, phaseIdle}

type config struct {
	// Target: a private dev stack (default) or an existing deployment.
	Gateway           string        `json:"gateway,omitempty"`
	ProfileURL        string        `json:"profile_url,omitempty"`
	PostgresURL       string        `json:"postgres_url,omitempty"`
	RedisURL          string        `json:"redis_url,omitempty"`
	KafkaAddr         string        `json:"kafka_addr,omitempty"`
	AdminOffset       int           `json:"admin_offset"`
	Devstack          string        `json:"devstack,omitempty"`
	SynchronousCommit string        `json:"synchronous_commit"`
	StackTimeout      time.Duration `json:"-"`
	StackEnv          []string      `json:"stack_env,omitempty"`

	Phases           []string      `json:"phases"`
	Duration         time.Duration `json:"-"`
	BaselineDuration time.Duration `json:"-"`
	Drain            time.Duration `json:"-"`
	Pairs            int           `json:"pairs"`
	Workers          int           `json:"workers"`
	Rate             float64       `json:"rate"`
	Codec            string        `json:"codec"`
	IdleConns        int           `json:"idle_conns"`
	ConnsPerUser     int           `json:"conns_per_user"`
	Settle           time.Duration `json:"-"`
	RegisterConc     int           `json:"register_concurrency"`
	Profile          bool          `json:"profile"`
	OutDir           string        `json:"out_dir"`
	JSONPath         string        `json:"json_path,omitempty"`

	// Durations as text in the JSON report ("10s").
	DurationText         string `json:"duration"`
	BaselineDurationText string `json:"baseline_duration"`
	DrainText            string `json:"drain"`
	SettleText           string `json:"settle"`

	// Args is the command line as given.
	Args []string `json:"args"`
}

func (c *config) has(phase string) bool { return slices.Contains(c.Phases, phase) }

// parseFlags reads the command line. errHelp means -h was asked for (usage already printed).
func parseFlags(args []string, out io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, `usage: loadtest [flags]

Measures Parley under load: a raw Postgres INSERT baseline, the gateway's overhead on a unary call,
1:1 messages from SendMessage to the recipient's WebSocket (closed loop at max rate, then open loop
at a fixed rate), and the gateway's memory per idle WebSocket beside a bare coder/websocket server,
with CPU per process from /proc. Without -gateway it starts a private dev stack of its own.

flags:
`)
		fs.PrintDefaults()
	}
	var phases string
	fs.StringVar(&c.Gateway, "gateway", "", "`URL` of an existing deployment's gateway (e.g. http://127.0.0.1:8080 for make up), instead of starting a private dev stack")
	fs.StringVar(&c.ProfileURL, "profile-url", "", "the profile service itself, for the direct-call baseline (default: derived from -gateway's port layout)")
	fs.StringVar(&c.PostgresURL, "postgres-url", "", "the Postgres server, for the raw INSERT baseline and pg_stat_statements (default: derived)")
	fs.StringVar(&c.RedisURL, "redis-url", "", "Redis, for INFO commandstats with -profile (default: derived)")
	fs.StringVar(&c.KafkaAddr, "kafka-addr", "", "the Kafka broker's host:port, to find its process for CPU (default: derived)")
	fs.IntVar(&c.AdminOffset, "admin-offset", -1, "each service's admin listener (pprof) is its port + this; -1: the dev stack's layout (+1000 on make up's standard ports, +30 with PARLEY_PORT_BASE); 0: none")
	fs.StringVar(&c.Devstack, "devstack", ".bin/devstack", "the dev stack binary, for the private stack (build: go build -o .bin/devstack ./devstack)")
	fs.StringVar(&c.SynchronousCommit, "synchronous-commit", "off", "Postgres synchronous_commit for the private stack (PARLEY_PG_SYNCHRONOUS_COMMIT): off or on")
	fs.Func("stack-env", "`KEY=VALUE` added to the private stack's environment (repeatable), e.g. LOG_LEVEL=warn or REALTIME_SEND_BUFFER=512", func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return errors.New("want KEY=VALUE")
		}
		c.StackEnv = append(c.StackEnv, v)
		return nil
	})
	fs.DurationVar(&c.StackTimeout, "stack-timeout", 120*time.Second, "how long the private stack may take to become ready")
	fs.StringVar(&phases, "phases", strings.Join(allPhases, ","), "phases to run, comma-separated: "+strings.Join(allPhases, ", "))
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "length of each message phase (closed and open loop)")
	fs.DurationVar(&c.BaselineDuration, "baseline-duration", 5*time.Second, "length of the Postgres baseline and of each gateway-overhead run")
	fs.DurationVar(&c.Drain, "drain", 15*time.Second, "after a message phase, wait at most this long for late frames")
	fs.IntVar(&c.Pairs, "pairs", 8, "pairs of friends exchanging messages (2 senders per pair)")
	fs.IntVar(&c.Workers, "workers", 16, "concurrent workers of the Postgres baseline and the gateway-overhead runs")
	fs.Float64Var(&c.Rate, "rate", 0, "open-loop messages per second; 0: half the delivered/s the closed loop measured")
	fs.StringVar(&c.Codec, "codec", "json", "Connect codec of the RPCs: json (what connect-web sends) or proto")
	fs.IntVar(&c.IdleConns, "idle-conns", 2000, "idle authenticated WebSockets to open (the issue's targets: 5000, 20000)")
	fs.IntVar(&c.ConnsPerUser, "conns-per-user", 10, "idle sockets per user, at most the gateway's REALTIME_MAX_CONNS_PER_USER")
	fs.DurationVar(&c.Settle, "settle", 3*time.Second, "after opening the idle sockets, wait this long before reading memory")
	fs.IntVar(&c.RegisterConc, "register-concurrency", 4, "concurrent registrations (each costs auth an argon2id hash)")
	fs.BoolVar(&c.Profile, "profile", false, "during the closed loop, fetch pprof CPU profiles from every admin listener, pg_stat_statements and Redis commandstats")
	fs.StringVar(&c.OutDir, "out", ".data/loadtest", "directory for the JSON report and profiles (relative to the repository root when found)")
	fs.StringVar(&c.JSONPath, "json", "", "where to write the JSON report (default <out>/report-<UTC time>.json)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q (see -h)", fs.Args())
	}
	c.Args = args
	for p := range strings.SplitSeq(phases, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(allPhases, p) {
			return c, fmt.Errorf("-phases: unknown phase %q (want some of %s)", p, strings.Join(allPhases, ","))
		}
		if !slices.Contains(c.Phases, p) {
			c.Phases = append(c.Phases, p)
		}
	}
	// Run them in the fixed order: the open loop's default rate comes from the closed loop.
	slices.SortFunc(c.Phases, func(a, b string) int { return slices.Index(allPhases, a) - slices.Index(allPhases, b) })
	var errs []error
	if len(c.Phases) == 0 {
		errs = append(errs, errors.New("-phases: none selected"))
	}
	if c.Codec != "json" && c.Codec != "proto" {
		errs = append(errs, fmt.Errorf("-codec %q: want json or proto", c.Codec))
	}
	if c.Gateway != "" && len(c.StackEnv) > 0 {
		errs = append(errs, errors.New("-stack-env configures the private stack; with -gateway, configure that deployment instead"))
	}
	if c.SynchronousCommit == "" {
		errs = append(errs, errors.New("-synchronous-commit: want a setting such as off or on"))
	}
	for name, v := range map[string]int{"-pairs": c.Pairs, "-workers": c.Workers, "-conns-per-user": c.ConnsPerUser, "-register-concurrency": c.RegisterConc} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1", name))
		}
	}
	if c.IdleConns < 0 || c.Rate < 0 || c.AdminOffset < -1 {
		errs = append(errs, errors.New("-idle-conns and -rate must not be negative, -admin-offset not below -1"))
	}
	for name, d := range map[string]time.Duration{"-duration": c.Duration, "-baseline-duration": c.BaselineDuration} {
		if d < time.Second {
			errs = append(errs, fmt.Errorf("%s must be at least 1s", name))
		}
	}
	c.DurationText, c.BaselineDurationText = c.Duration.String(), c.BaselineDuration.String()
	c.DrainText, c.SettleText = c.Drain.String(), c.Settle.String()
	return c, errors.Join(errs...)
}

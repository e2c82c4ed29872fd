// Command devstack runs Parley locally: `go run ./devstack up` (`make up` runs it built) starts the
// infrastructure and every service and prints where to open it; Ctrl-C stops it all and the data
// stays in .data/. See docs/devstack.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/parleyhq/parley/devstack/stack"
)

const usage = `usage: go run ./devstack <command>

  up [service...]        start the infrastructure and the services (all written so far, or those
                         named), print where everything is, run until Ctrl-C
  infra                  start only the infrastructure (what Tilt's "infra" resource runs)
  env <service>          print the environment the stack gives a service (KEY=value lines): what
                         the stack sets, then what passes through from your environment
  exec <service> -- cmd  run cmd with that environment (what Tilt's service resources run)
  status [--infra] [--root dir]
                         check what answers where; exit status 1 if anything is down. --root:
                         the repository, when not run from inside it (Tilt's readiness probe)
  services               list the services in tilt/services.json
  install pkg...         make sure the commands of these Debian packages (nodejs, npm, chromium)
                         are on PATH, installing the missing ones as the stack installs Postgres
                         (as root, with apt-get, unless PARLEY_NO_INSTALL); with nodejs, fail
                         unless node is a version web/package.json's engines accept

Configuration comes from the environment (docs/devstack.md): DATABASE_URL, REDIS_URL, KAFKA_BROKERS,
S3_ENDPOINT, SMTP_URL point at infrastructure you run yourself; PARLEY_PORT_BASE moves every port;
PARLEY_DATA_DIR moves .data; PARLEY_STOP_ON_CRASH=true stops the stack when a service crashes
instead of restarting it; PARLEY_REPLICAS=2 (make up REPLICAS=2) runs two processes of every
service behind a balancer on its usual port.
`

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel() // stop cleanly
		for sig := range sigs {
			// A second Ctrl-C means "now": exit, and the kernel signals every child (their
			// parent-death signal). A repeated SIGTERM changes nothing: under `go run` the
			// parent-death signal comes once per exiting thread of the go command.
			if sig == os.Interrupt {
				fmt.Fprintln(os.Stderr, "devstack: interrupted again; exiting at once")
				os.Exit(130)
			}
		}
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// run executes one command and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	opts, err := stack.OptionsFromEnv(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "devstack: %v\n", err)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "up", "infra":
		if cmd == "infra" {
			if len(rest) > 0 {
				fmt.Fprint(stderr, usage)
				return 2
			}
			opts.InfraOnly = true
		} else if len(rest) > 0 {
			opts.Services = rest
		}
		opts.Output = stdout
		opts.Color = stack.IsTerminal(os.Stdout, getenv)
		return serve(ctx, opts, stdout, stderr)
	case "env":
		if len(rest) != 1 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		env, err := stack.Env(opts, rest[0])
		if err != nil {
			fmt.Fprintf(stderr, "devstack: %v\n", err)
			return 1
		}
		printEnv(stdout, env, os.Environ())
		return 0
	case "exec":
		return execService(opts, rest, stderr)
	case "status":
		return status(ctx, opts, rest, stdout, stderr)
	case "install":
		if len(rest) == 0 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		opts.Output = stdout
		if err := stack.Install(ctx, opts, rest); err != nil {
			fmt.Fprintf(stderr, "devstack: %v\n", err)
			return 1
		}
		return 0
	case "services":
		return listServices(opts, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "devstack: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

// status prints whether each piece of the stack answers (with --infra, the infrastructure's only);
// 1 when one does not.
func status(ctx context.Context, opts stack.Options, args []string, stdout, stderr io.Writer) int {
	infraOnly := false
	for len(args) > 0 {
		switch {
		case args[0] == "--infra":
			infraOnly, args = true, args[1:]
		case args[0] == "--root" && len(args) > 1:
			// Tilt runs its readiness probe in its own working directory, not the repository.
			opts.Root, args = args[1], args[2:]
		default:
			fmt.Fprint(stderr, usage)
			return 2
		}
	}
	ok := true
	for _, c := range stack.Status(ctx, opts, !infraOnly) {
		state := "up"
		if c.Err != nil {
			state, ok = "DOWN: "+c.Err.Error(), false
		}
		fmt.Fprintf(stdout, "%-13s %-58s %s\n", c.Name, c.Address, state)
	}
	if !ok {
		return 1
	}
	return 0
}

// listServices prints the registry's services: name, port, database and health path.
func listServices(opts stack.Options, stdout, stderr io.Writer) int {
	root := opts.Root
	if root == "" {
		var err error
		if root, err = stack.FindRoot(); err != nil {
			fmt.Fprintf(stderr, "devstack: %v\n", err)
			return 1
		}
	}
	reg, err := stack.LoadRegistry(root)
	if err != nil {
		fmt.Fprintf(stderr, "devstack: %v\n", err)
		return 1
	}
	for _, s := range reg.Services {
		db := s.Database
		if db == "" {
			db = "-"
		}
		fmt.Fprintf(stdout, "%-13s %d  %-20s %s\n", s.Name, s.Port, db, s.Health)
	}
	return 0
}

// serve starts the stack and keeps it up until a signal or a failure.
func serve(ctx context.Context, opts stack.Options, stdout, stderr io.Writer) int {
	s, err := stack.Start(ctx, opts)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "devstack: interrupted while starting; everything started was stopped")
			return 130
		}
		fmt.Fprintf(stderr, "\ndevstack: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, s.Summary())
	if opts.InfraOnly {
		fmt.Fprint(stdout, "\nOnly the infrastructure runs. Run a service with its environment:\n  go run ./devstack exec <service> -- <its binary>\n")
	}
	fmt.Fprintf(stdout, "\nCtrl-C stops everything; the data stays in %s.\n\n", s.DataDir())
	select {
	case <-ctx.Done():
	case <-s.Done():
	}
	_ = s.Close()
	if err := s.Err(); err != nil {
		fmt.Fprintf(stderr, "\ndevstack: %v\n", err)
		return 1
	}
	return 0
}

// execService replaces this process with the command, in the service's environment, so signals
// (Tilt stopping the resource) reach the service directly.
func execService(opts stack.Options, args []string, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	name, argv := args[0], args[1:]
	if argv[0] == "--" {
		argv = argv[1:]
	}
	if len(argv) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	env, err := stack.Env(opts, name)
	if err != nil {
		fmt.Fprintf(stderr, "devstack: %v\n", err)
		return 1
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintf(stderr, "devstack: %v\n", err)
		return 127
	}
	err = syscall.Exec(path, argv, stack.MergeEnv(os.Environ(), env))
	fmt.Fprintf(stderr, "devstack: exec %s: %v\n", path, err)
	return 126
}

// printEnv writes a service's environment as lines a shell can source: env, what the stack sets,
// then what the service inherits from inherited (this process's environment) because the stack
// does not set it — LOG_LEVEL=debug, say — under a comment, so both are seen and told apart.
// Inherited names a shell cannot assign (bash's exported functions, BASH_FUNC_f%%) are left out:
// their lines would be run as commands when sourced.
func printEnv(w io.Writer, env, inherited []string) {
	set := map[string]bool{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		set[k] = true
		fmt.Fprintf(w, "%s=%s\n", k, shellQuote(v))
	}
	var passed []string
	for _, kv := range inherited {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || set[k] || !shellName(k) {
			continue
		}
		set[k] = true // the first of a repeated name is the one getenv finds
		passed = append(passed, k+"="+shellQuote(v))
	}
	if len(passed) == 0 {
		return
	}
	slices.Sort(passed)
	fmt.Fprintln(w, "# passed through from your environment (the stack does not set these):")
	for _, line := range passed {
		fmt.Fprintln(w, line)
	}
}

// shellName reports whether name can be assigned in a POSIX shell: letters, digits and
// underscores, not starting with a digit.
func shellName(name string) bool {
	for i, r := range name {
		letter := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		digit := r >= '0' && r <= '9'
		if !letter && (!digit || i == 0) {
			return false
		}
	}
	return name != ""
}

// shellQuote quotes v for a POSIX shell when it needs it, so the output of `env` can be sourced.
func shellQuote(v string) string {
	if v != "" && strings.IndexFunc(v, func(r rune) bool {
		safe := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./:@,+=%", r)
		return !safe
	}) < 0 {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

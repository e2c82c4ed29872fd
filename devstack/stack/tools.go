package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// starter carries what every start-up step needs.
type starter struct {
	o       Options
	log     *slog.Logger
	console *Console
}

// goTool returns the go command: the one on PATH, else the usual install location.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// tool returns the path of a pinned tool binary in BinDir, building it from the tools module
// (tools/go.mod's `tool` directives pin the version) when it is missing — what `make tools` does
// for every tool.
func (st *starter) tool(ctx context.Context, name, pkg string) (string, error) {
	path := filepath.Join(st.o.BinDir, name)
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return path, nil
	}
	if _, err := os.Stat(filepath.Join(st.o.ToolsDir, "go.mod")); err != nil {
		return "", fmt.Errorf("%s is missing and there is no %s/go.mod to build it from: run `make tools`", path, st.o.ToolsDir)
	}
	st.log.Info("building a pinned tool (first run only; `make tools` builds them all)", "tool", name, "into", st.o.BinDir)
	begin := time.Now()
	out := st.console.Writer("build")
	cmd := exec.CommandContext(ctx, goTool(), "install", pkg)
	cmd.Dir = st.o.ToolsDir
	// tools/ is its own module outside go.work, so its dependencies never reach the services.
	cmd.Env = mergeEnv(st.o.Environ(), []string{"GOWORK=off", "GOBIN=" + st.o.BinDir})
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		out.Flush()
		return "", fmt.Errorf("build %s: %w\n%s", name, err, tailText(out))
	}
	st.log.Info("built", "tool", name, "took", time.Since(begin).Round(100*time.Millisecond))
	return path, nil
}

// install installs Debian packages when allowed: as root, with apt-get, unless NoInstall. why says
// what is missing, for the messages.
func (st *starter) install(ctx context.Context, why string, pkgs ...string) error {
	names := strings.Join(pkgs, " ")
	switch {
	case st.o.NoInstall:
		return fmt.Errorf("%s, and installing is switched off (PARLEY_NO_INSTALL): install %s", why, names)
	case os.Geteuid() != 0:
		return fmt.Errorf("%s; not root, so not installing: run `sudo apt-get install %s` (or your system's equivalent)", why, names)
	}
	aptGet, err := exec.LookPath("apt-get")
	if err != nil {
		return fmt.Errorf("%s, and there is no apt-get to install %s with: install it with your system's package manager", why, names)
	}
	st.log.Warn(why+"; installing with apt-get (running as root)", "packages", names)
	out := st.console.Writer("apt")
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, aptGet, args...)
		cmd.Env = mergeEnv(st.o.Environ(), []string{"DEBIAN_FRONTEND=noninteractive"})
		cmd.Stdout, cmd.Stderr = out, out
		return cmd.Run()
	}
	installArgs := append([]string{"install", "-y", "-q"}, pkgs...)
	if err := run(installArgs...); err != nil {
		// A fresh machine has no package lists yet.
		if err := run("update", "-q"); err != nil {
			return fmt.Errorf("apt-get update: %w", err)
		}
		if err := run(installArgs...); err != nil {
			out.Flush()
			return fmt.Errorf("apt-get install %s: %w\n%s", names, err, tailText(out))
		}
	}
	st.log.Info("installed", "packages", names)
	return nil
}

// waitBuildLock takes lock, waiting while another process (a test stack building into the same
// directory) holds it, for as long as ctx lets it: a build that hangs elsewhere fails this one
// with the holder's pid instead of stopping it silently until the test binary's deadline.
func (st *starter) waitBuildLock(ctx context.Context, lock *os.File) error {
	for told := false; ; told = true {
		err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			writeLockHolder(lock)
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w", lock.Name(), err)
		}
		if !told {
			st.log.Info("waiting for another build of the services", "lock", lock.Name(), "pid", lockHolder(lock.Name()))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s, held by pid %s building the services there: %w", lock.Name(), lockHolder(lock.Name()), context.Cause(ctx))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// buildServices compiles the services into binDir with one `go build` from the repository root (one
// invocation shares work and uses every core), the same as `go build -o <binDir>/<svc> ./services/<svc>`
// for each. An up-to-date binary is left alone, so stacks sharing binDir link once between them.
// Processes sharing it take turns: a binary half written by one would not start for another.
func (st *starter) buildServices(ctx context.Context, binDir string, names []string) error {
	if len(names) == 0 {
		return nil
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(binDir, ".build.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close() // releases the lock
	if err := st.waitBuildLock(ctx, lock); err != nil {
		return err
	}
	args := []string{"build", "-o", binDir + string(filepath.Separator)}
	for _, n := range names {
		args = append(args, "./services/"+n)
	}
	st.log.Info("building services", "services", strings.Join(names, " "), "into", binDir)
	begin := time.Now()
	out := st.console.Writer("build")
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Dir = st.o.Root
	cmd.Env = st.o.Environ()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		out.Flush()
		hint := ""
		if strings.Contains(strings.Join(out.Tail(), "\n"), "go.work") {
			hint = "\n(a new service must be in the workspace: go work use ./services/<name>)"
		}
		return fmt.Errorf("go %s: %w\n%s%s", strings.Join(args, " "), err, tailText(out), hint)
	}
	st.log.Info("built services", "took", time.Since(begin).Round(100*time.Millisecond))
	return nil
}

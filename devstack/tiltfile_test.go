package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/devstack/stack"
	"github.com/parleyhq/parley/devstack/stack/stacktest"
	"github.com/parleyhq/parley/platform/logtest"
	"github.com/parleyhq/parley/platform/proctest"
)

// These tests run the Tiltfile with the real Tilt (docs/devstack.md#tilt). `make tilt` installs it
// into .bin/tilt (.ci/run does); a developer without it gets a failure saying so.

// tiltBinary is <repo>/.bin/tilt, else tilt on PATH. Missing is a failure, not a skip: CI must
// never pass without having run Tilt.
func tiltBinary(t *testing.T) string {
	t.Helper()
	root, err := proctest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, ".bin", "tilt")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if p, err := exec.LookPath("tilt"); err == nil {
		return p
	}
	t.Fatalf("tilt is neither in %s nor on PATH: run `make tilt` (what .ci/run does; it unpacks "+
		"../shared/tools/tilt.gz), or install Tilt (https://docs.tilt.dev/install.html)", bin)
	return ""
}

// tiltEnv is this process's environment without what would point Tilt's dev stack at other
// infrastructure, plus vars.
func tiltEnv(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "PARLEY_"), strings.HasPrefix(k, "S3_"), strings.HasPrefix(k, "TILT_"),
			k == "DATABASE_URL", k == "REDIS_URL", k == "KAFKA_BROKERS", k == "SMTP_URL", k == "MAILPIT_URL":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "TILT_DISABLE_ANALYTICS=1") // no network here, nor in CI
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// tiltfileResult is the part of `tilt alpha tiltfile-result` these tests read: what Tilt itself
// made of the Tiltfile.
type tiltfileResult struct {
	Manifests []struct {
		Name         string
		DeployTarget struct {
			UpdateCmdSpec struct {
				Args []string `json:"args"`
				Dir  string   `json:"dir"`
			}
			ServeCmd struct {
				Argv []string
				Dir  string
			}
			Links []struct {
				URL  struct{ Scheme, Host, Path string }
				Name string
			}
			Deps           []string
			AllowParallel  bool
			ReadinessProbe struct {
				Exec *struct {
					Command []string `json:"command"`
				} `json:"exec"`
				HTTPGet *struct {
					Path string `json:"path"`
					Port int    `json:"port"`
				} `json:"httpGet"`
				TimeoutSeconds int `json:"timeoutSeconds"`
			}
		}
		ResourceDependencies []string
		Labels               map[string]string
	}
	ConfigFiles []string
}

// loadTiltfile asks Tilt what the Tiltfile in root declares under env, run from a directory that
// is not the repository. It returns the result, or Tilt's error output when loading fails.
func loadTiltfile(t *testing.T, root string, env map[string]string) (tiltfileResult, string) {
	t.Helper()
	cmd := exec.Command(tiltBinary(t), "alpha", "tiltfile-result", "-f", filepath.Join(root, "Tiltfile"))
	cmd.Dir = t.TempDir()
	cmd.Env = tiltEnv(env)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var res tiltfileResult
	if err := cmd.Run(); err != nil {
		if stderr.Len() == 0 {
			t.Fatalf("tilt alpha tiltfile-result: %v", err)
		}
		return res, stderr.String()
	}
	if err := json.Unmarshal([]byte(stdout.String()), &res); err != nil {
		t.Fatalf("tilt alpha tiltfile-result: %v\n%s", err, stdout.String())
	}
	return res, ""
}

// TestTiltfileDefinesInfraAndEveryWrittenService checks what real Tilt makes of the Tiltfile: argv
// commands (no `sh -c` between Tilt's signals and the process), absolute paths (probes run in
// Tilt's working directory), the ports the dev stack uses, parallel builds, links and labels.
func TestTiltfileDefinesInfraAndEveryWrittenService(t *testing.T) {
	root, err := proctest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := stack.LoadRegistry(root)
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	for _, tc := range []struct {
		name     string
		env      map[string]string
		portBase int
		binDir   string
	}{
		{"standard ports", map[string]string{}, 0, filepath.Join(root, ".data", "bin")},
		{"PARLEY_PORT_BASE set but empty", map[string]string{"PARLEY_PORT_BASE": ""}, 0, filepath.Join(root, ".data", "bin")},
		{"PARLEY_PORT_BASE and PARLEY_DATA_DIR", map[string]string{"PARLEY_PORT_BASE": "20000", "PARLEY_DATA_DIR": dataDir}, 20000, filepath.Join(dataDir, "bin")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, loadErr := loadTiltfile(t, root, tc.env)
			if loadErr != "" {
				t.Fatalf("the Tiltfile does not load:\n%s", loadErr)
			}
			port := func(offset, standard int) int {
				if tc.portBase != 0 {
					return tc.portBase + offset
				}
				return standard
			}
			devstack := filepath.Join(tc.binDir, "devstack")
			byName := map[string]int{}
			for i, m := range res.Manifests {
				byName[m.Name] = i
				d := m.DeployTarget
				if d.UpdateCmdSpec.Dir != root || d.ServeCmd.Dir != root {
					t.Errorf("%s runs in %q / %q, want the repository %s", m.Name, d.UpdateCmdSpec.Dir, d.ServeCmd.Dir, root)
				}
				if !d.AllowParallel {
					t.Errorf("%s: allow_parallel is off, so builds run one at a time", m.Name)
				}
				if len(d.ServeCmd.Argv) == 0 || d.ServeCmd.Argv[0] != devstack {
					t.Errorf("%s serve_cmd = %q, want an argv list starting with %s (a string runs under sh -c)", m.Name, d.ServeCmd.Argv, devstack)
				}
			}
			i, ok := byName["infra"]
			if !ok {
				t.Fatalf("no infra resource among %v", byName)
			}
			infra := res.Manifests[i]
			if got := infra.DeployTarget.UpdateCmdSpec.Args; !slices.Contains(got, devstack) || !slices.Contains(got, "./devstack") {
				t.Errorf("infra cmd = %q, want a build of ./devstack into %s", got, devstack)
			}
			if got := infra.DeployTarget.ServeCmd.Argv; !slices.Equal(got, []string{devstack, "infra"}) {
				t.Errorf("infra serve_cmd = %q", got)
			}
			probe := infra.DeployTarget.ReadinessProbe
			if probe.Exec == nil || !slices.Equal(probe.Exec.Command, []string{devstack, "status", "--infra", "--root", root}) {
				t.Errorf("infra readiness probe = %+v, want devstack status --infra --root <repo>, all absolute", probe.Exec)
			}
			if probe.TimeoutSeconds < 10 {
				t.Errorf("infra probe timeout %ds: `status` may take 2s per component", probe.TimeoutSeconds)
			}
			if !slices.Contains(infra.DeployTarget.Deps, filepath.Join(root, "devstack")) {
				t.Errorf("infra deps = %q", infra.DeployTarget.Deps)
			}
			links := map[string]string{}
			for _, l := range infra.DeployTarget.Links {
				links[l.Name] = l.URL.Scheme + "://" + l.URL.Host + l.URL.Path
			}
			if want := fmt.Sprintf("http://127.0.0.1:%d", port(25, 8025)); links["mail UI"] != want {
				t.Errorf("infra links %v: mail UI, want %s", links, want)
			}
			if want := fmt.Sprintf("http://127.0.0.1:%d/.well-known/openid-configuration", port(26, 9096)); links["OIDC provider (sign in with Dev)"] != want {
				t.Errorf("infra links %v: OIDC provider, want %s", links, want)
			}
			if want := fmt.Sprintf("http://127.0.0.1:%d", port(27, 4318)); links["traces"] != want {
				t.Errorf("infra links %v: traces, want %s", links, want)
			}
			if infra.Labels["infra"] == "" || len(infra.Labels) != 1 {
				t.Errorf("infra labels = %v, want infra", infra.Labels)
			}

			opts := stack.Options{Root: root, PortBase: tc.portBase}
			for _, svc := range reg.Services {
				i, ok := byName[svc.Name]
				_, statErr := os.Stat(filepath.Join(root, "services", svc.Name, "main.go"))
				if written := statErr == nil; ok != written {
					t.Errorf("%s: resource defined = %v, but main.go written = %v", svc.Name, ok, written)
					continue
				}
				if !ok {
					continue
				}
				m := res.Manifests[i]
				d := m.DeployTarget
				bin := filepath.Join(tc.binDir, svc.Name)
				if !slices.Contains(d.UpdateCmdSpec.Args, bin) || !slices.Contains(d.UpdateCmdSpec.Args, "./services/"+svc.Name) {
					t.Errorf("%s cmd = %q", svc.Name, d.UpdateCmdSpec.Args)
				}
				if want := []string{devstack, "exec", svc.Name, "--", bin}; !slices.Equal(d.ServeCmd.Argv, want) {
					t.Errorf("%s serve_cmd = %q, want %q", svc.Name, d.ServeCmd.Argv, want)
				}
				if !slices.Equal(m.ResourceDependencies, []string{"infra"}) {
					t.Errorf("%s resource_deps = %q", svc.Name, m.ResourceDependencies)
				}
				// tilt/services.json: the service's environment comes from it.
				for _, dep := range []string{"services/" + svc.Name, "platform", "contracts", "tilt/services.json"} {
					if !slices.Contains(d.Deps, filepath.Join(root, dep)) {
						t.Errorf("%s deps %q lack %s", svc.Name, d.Deps, dep)
					}
				}
				want := opts.ServicePort(svc)
				if p := d.ReadinessProbe.HTTPGet; p == nil || p.Port != want || p.Path != svc.Health {
					t.Errorf("%s probe %+v, want port %d path %s (what the dev stack gives it)", svc.Name, p, want, svc.Health)
				}
				if len(d.Links) != 1 || d.Links[0].URL.Host != "127.0.0.1:"+strconv.Itoa(want) {
					t.Errorf("%s links = %+v, want 127.0.0.1:%d", svc.Name, d.Links, want)
				}
				if m.Labels["services"] == "" || len(m.Labels) != 1 {
					t.Errorf("%s labels = %v, want services", svc.Name, m.Labels)
				}
			}
			if i, ok := byName["gateway"]; ok && !strings.HasPrefix(res.Manifests[i].DeployTarget.Links[0].Name, "gateway") {
				t.Errorf("gateway link named %q", res.Manifests[i].DeployTarget.Links[0].Name)
			}
		})
	}
}

func TestTiltfileRefusesABadPortBase(t *testing.T) {
	root, err := proctest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	_, loadErr := loadTiltfile(t, root, map[string]string{"PARLEY_PORT_BASE": "2x"})
	if !strings.Contains(loadErr, `PARLEY_PORT_BASE="2x": not a number`) {
		t.Errorf("PARLEY_PORT_BASE=2x: Tilt says %q, want an error naming the variable", loadErr)
	}
}

// TestTiltfileWatchesServicesNotWrittenYet: a service in the registry without main.go gets no
// resource, but its main.go is watched, so writing it reloads the Tiltfile. A copy of the Tiltfile
// and the registry, with no services/ at all, stands in for a repository where none is written.
func TestTiltfileWatchesServicesNotWrittenYet(t *testing.T) {
	root, err := proctest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	for _, f := range []string{"Tiltfile", "tilt/services.json"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(tmp, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := stack.LoadRegistry(tmp)
	if err != nil {
		t.Fatal(err)
	}
	res, loadErr := loadTiltfile(t, tmp, nil)
	if loadErr != "" {
		t.Fatalf("the Tiltfile does not load:\n%s", loadErr)
	}
	if len(res.Manifests) != 1 || res.Manifests[0].Name != "infra" {
		t.Errorf("resources without any main.go: %d, want infra alone", len(res.Manifests))
	}
	for _, svc := range reg.Services {
		if main := filepath.Join(tmp, "services", svc.Name, "main.go"); !slices.Contains(res.ConfigFiles, main) {
			t.Errorf("%s is not watched: the Tiltfile's watched files are %q", main, res.ConfigFiles)
		}
	}
}

// TestTiltRunsTheStack runs the real Tilt on a private port range and data directory, from a
// directory that is not the repository: `tilt ci` brings every service up; `tilt ci -- auth` only
// infra and auth; under `tilt up`, rebuilding infra stops the old one cleanly (ports freed) and the
// new one becomes ready, and an edit under services/auth restarts auth. It costs about 2 minutes
// on 2 cores, most of it linking the binaries into the fresh data directory.
func TestTiltRunsTheStack(t *testing.T) {
	tilt := tiltBinary(t)
	root, err := proctest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	base, err := stack.FreePortBase()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PARLEY_PORT_BASE": strconv.Itoa(base), "PARLEY_DATA_DIR": stacktest.ReachableTempDir(t)}
	elsewhere := t.TempDir()
	tiltfile := filepath.Join(root, "Tiltfile")
	reg, err := stack.LoadRegistry(root)
	if err != nil {
		t.Fatal(err)
	}

	// ci runs `tilt ci` and returns each resource's state from Tilt's snapshot at exit.
	ci := func(t *testing.T, args ...string) map[string]string {
		t.Helper()
		snapshot := filepath.Join(t.TempDir(), "snapshot.json")
		argv := append([]string{"ci", "-f", tiltfile, "--port", "0", "--web-mode", "prod", "--timeout", "8m",
			"--output-snapshot-on-exit", snapshot}, args...)
		cmd := exec.Command(tilt, argv...)
		cmd.Dir, cmd.Env = elsewhere, tiltEnv(env)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Fatalf("tilt %s: %v\n%s", strings.Join(argv, " "), err, out)
		}
		var snap struct {
			View struct {
				UIResources []struct {
					Metadata struct{ Name string }
					Status   struct {
						RuntimeStatus string
						DisableStatus struct{ State string }
					}
				}
			}
		}
		b, err := os.ReadFile(snapshot)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &snap); err != nil {
			t.Fatal(err)
		}
		states := map[string]string{}
		for _, r := range snap.View.UIResources {
			states[r.Metadata.Name] = r.Status.DisableStatus.State + "/" + r.Status.RuntimeStatus
		}
		return states
	}
	written := []string{"infra"}
	for _, svc := range reg.Services {
		if _, err := os.Stat(filepath.Join(root, "services", svc.Name, "main.go")); err == nil {
			written = append(written, svc.Name)
		}
	}

	t.Run("tilt ci", func(t *testing.T) {
		states := ci(t)
		for _, name := range written {
			if states[name] != "Enabled/ok" {
				t.Errorf("%s: %s, want Enabled/ok (all: %v)", name, states[name], states)
			}
		}
	})
	t.Run("tilt ci -- auth", func(t *testing.T) {
		states := ci(t, "--", "auth")
		for _, name := range written {
			want := "Disabled/none"
			if name == "infra" || name == "auth" {
				want = "Enabled/ok"
			}
			if states[name] != want {
				t.Errorf("%s: %s, want %s (all: %v)", name, states[name], want, states)
			}
		}
	})
	t.Run("tilt up: a rebuilt infra and an edited auth restart cleanly", func(t *testing.T) {
		testTiltUpRestartsInfra(t, tilt, tiltfile, elsewhere, env, base)
	})
}

func testTiltUpRestartsInfra(t *testing.T, tilt, tiltfile, dir string, env map[string]string, base int) {
	apiPort := strconv.Itoa(base + stack.PortSpan - 1) // in the range reserved for this stack, used by nothing else
	var logs logtest.Buffer
	up := exec.Command(tilt, "up", "-f", tiltfile, "--port", apiPort, "--web-mode", "prod", "--stream", "--", "auth")
	up.Dir, up.Env, up.Stdout, up.Stderr = dir, tiltEnv(env), &logs, &logs
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- up.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = up.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			t.Logf("tilt up stopped: %v", err) // its exit status after a signal says nothing here
		case <-time.After(30 * time.Second):
			_ = up.Process.Kill()
			t.Errorf("tilt up did not stop within 30s of SIGTERM (%v)\n%s", <-exited, logs.String())
		}
	}
	t.Cleanup(stop)

	tiltctl := func(args ...string) (string, error) {
		cmd := exec.Command(tilt, append(args, "--port", apiPort)...)
		cmd.Dir, cmd.Env = dir, tiltEnv(env)
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	// state is a resource's process, runtime status and Ready condition, e.g. "1234 ok True".
	state := func(name string) string {
		out, err := tiltctl("get", "uiresource", name, "-o",
			`jsonpath={.status.localResourceInfo.pid} {.status.runtimeStatus} {.status.conditions[?(@.type=="Ready")].status}`)
		if err != nil {
			return ""
		}
		return out
	}
	waitFor := func(what string, timeout time.Duration, done func() bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !done() {
			select {
			case err := <-exited:
				t.Fatalf("tilt up exited (%v) while waiting for %s\n%s", err, what, logs.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s within %s; infra: %q\n%s", what, timeout, state("infra"), logs.String())
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	waitFor("Tilt API", time.Minute, func() bool { _, err := tiltctl("get", "uiresource", "infra"); return err == nil })
	if out, err := tiltctl("wait", "--for=condition=Ready", "uiresource/auth", "--timeout", "5m"); err != nil {
		t.Fatalf("auth not ready: %v %s\n%s", err, out, logs.String())
	}
	before := strings.Fields(state("infra"))
	if len(before) != 3 || before[1] != "ok" {
		t.Fatalf("infra before the rebuild: %q", before)
	}

	// What an edit under devstack/ does: rebuild, stop the old infra, start the new one.
	if out, err := tiltctl("trigger", "infra"); err != nil {
		t.Fatalf("tilt trigger infra: %v %s", err, out)
	}
	waitFor("restarted, ready infra", 3*time.Minute, func() bool {
		s := strings.Fields(state("infra"))
		if len(s) == 3 && s[0] != before[0] && s[1] == "error" {
			t.Fatalf("the restarted infra failed\n%s", logs.String())
		}
		return len(s) == 3 && s[0] != before[0] && s[1] == "ok" && s[2] == "True"
	})
	out := logs.String()
	if strings.Contains(out, "ports in use") {
		t.Errorf("the new infra found its ports taken\n%s", out)
	}
	// The old dev stack got Tilt's SIGTERM itself and stopped its children in order.
	if !strings.Contains(out, "msg=stopped") {
		t.Errorf("the old infra did not stop cleanly (no msg=stopped)\n%s", out)
	}
	if out, err := tiltctl("wait", "--for=condition=Ready", "uiresource/auth", "--timeout", "2m"); err != nil {
		t.Fatalf("auth not ready after infra restarted: %v %s\n%s", err, out, logs.String())
	}

	// A real edit: a new file under services/auth rebuilds auth and restarts it; the service itself
	// gets Tilt's SIGTERM (through `devstack exec`) and shuts down gracefully.
	authBefore := strings.Fields(state("auth"))
	edit := filepath.Join(filepath.Dir(tiltfile), "services", "auth", "tilt-edit-check.tmp")
	if err := os.WriteFile(edit, []byte("written by devstack's TestTiltRunsTheStack\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(edit) })
	waitFor("restarted, ready auth after an edit", 3*time.Minute, func() bool {
		s := strings.Fields(state("auth"))
		return len(s) == 3 && len(authBefore) == 3 && s[0] != authBefore[0] && s[1] == "ok" && s[2] == "True"
	})
	graceful := slices.ContainsFunc(strings.Split(logs.String(), "\n"), func(line string) bool {
		return strings.Contains(line, `msg="shutting down" service=auth`)
	})
	if !graceful {
		t.Errorf("auth did not shut down gracefully before its restart\n%s", logs.String())
	}

	// Stopping Tilt stops everything: the ports are free again.
	stop()
	for _, offset := range []int{1, 20, 21, 22, 23, 24, 25, 26} {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(base+offset))
		deadline := time.Now().Add(30 * time.Second)
		for {
			l, err := net.Listen("tcp", addr)
			if err == nil {
				l.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s still taken after tilt up stopped\n%s", addr, logs.String())
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

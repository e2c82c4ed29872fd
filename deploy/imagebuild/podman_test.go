package imagebuild_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/parleyhq/parley/deploy/imagebuild"
)

// The ports this test's gateway listens on, on the host network: the w-img range of
// PARLEY_PORT_BASE, clear of the dev stack's.
const (
	podmanPort      = 26680
	podmanAdminPort = 26681
)

// podman runs podman as it works on these machines as root: runc, the cgroupfs manager, and a
// containers.conf that sets no default ulimits (RLIMIT_NOFILE would be refused).
func podman(t *testing.T, args ...string) (string, error) {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"--runtime", "/usr/sbin/runc", "--cgroup-manager", "cgroupfs"}
	cmd := exec.Command("podman", append(base, args...)...)
	// CONTAINERS_CONF replaces the configuration file (Debian 12 has podman 4.3, which has no
	// CONTAINERS_CONF_OVERRIDE): everything else keeps its default.
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+conf)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// The gateway's image runs under podman: loaded from the OCI layout `make images` writes, started
// on the host network, it answers /healthz and reports itself not ready (its upstreams do not
// run here), as user 65532, with no shell to exec, and stops cleanly on SIGTERM.
//
// It needs podman (Debian's package; .ci/run installs it) and fails where there is none, saying
// so: an image that was only opened (TestGatewayImageIsReproducibleAndMinimal) may still not run.
func TestPodmanRunsTheGatewayImage(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatal("podman is not installed: install it (as root: apt-get install podman runc; .ci/run does) — the image must be run, not only opened")
	}
	// podman names an image pulled from a layout after the layout's path, which must then be a
	// valid (lower-case) repository name: t.TempDir's has the test's name in it.
	dir, err := os.MkdirTemp("", "parley-image-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	img, err := imagebuild.Image(gatewaySpec(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	lp, err := layout.Write(filepath.Join(dir, "oci"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "gateway"})); err != nil {
		t.Fatal(err)
	}
	id, err := podman(t, "pull", "-q", "oci:"+filepath.Join(dir, "oci")+":gateway")
	if err != nil {
		t.Fatalf("podman pull: %v\n%s", err, id)
	}
	id = id[strings.LastIndex(id, "\n")+1:]
	// Untag only the names this pull gave (named after this test's path): another test may hold
	// the same image, with the same id, under a name of its own.
	t.Cleanup(func() {
		names, _ := podman(t, "images", "--format", "{{.Repository}}:{{.Tag}}")
		for _, n := range strings.Fields(names) {
			if strings.Contains(n, dir) {
				_, _ = podman(t, "rmi", n)
			}
		}
	})

	name := fmt.Sprintf("parley-image-test-%d", os.Getpid())
	out, err := podman(t, "run", "-d", "--name", name, "--network", "host",
		"-e", fmt.Sprintf("LISTEN_ADDR=127.0.0.1:%d", podmanPort),
		"-e", fmt.Sprintf("ADMIN_ADDR=127.0.0.1:%d", podmanAdminPort),
		"-e", "KAFKA_BROKERS=,", // no broker: the fan-out is off
		"-e", "REDIS_URL=redis://127.0.0.1:1", // nothing listens there: the gateway starts anyway
		"-e", "AUTH_URL=http://127.0.0.1:1", "-e", "AUTH_JWKS_URL=http://127.0.0.1:1/.well-known/jwks.json",
		id)
	if err != nil {
		t.Fatalf("podman run: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = podman(t, "rm", "-f", "-t", "0", name) })
	logs := func() string { l, _ := podman(t, "logs", name); return l }

	base := fmt.Sprintf("http://127.0.0.1:%d", podmanPort)
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no /healthz within 30s (last error %v); the container's log:\n%s", err, logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	res, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz %d without upstreams, want 503", res.StatusCode)
	}

	if pid, err := podman(t, "inspect", "--format", "{{.State.Pid}}", name); err != nil {
		t.Errorf("podman inspect: %v %s", err, pid)
	} else if status, err := os.ReadFile("/proc/" + pid + "/status"); err != nil {
		t.Error(err)
	} else if !strings.Contains(string(status), "\nUid:\t65532\t65532\t65532\t65532\n") {
		t.Errorf("the gateway's process does not run as 65532:\n%s", status)
	}
	if out, err := podman(t, "exec", name, "/bin/sh", "-c", "true"); err == nil {
		t.Errorf("a shell ran in the container: %s", out)
	}

	if out, err := podman(t, "stop", "-t", "30", name); err != nil {
		t.Fatalf("podman stop: %v\n%s", err, out)
	}
	code, err := podman(t, "inspect", "--format", "{{.State.ExitCode}}", name)
	if err != nil || code != "0" {
		t.Errorf("exit code %q (%v) after SIGTERM, want 0; log:\n%s", code, err, logs())
	}
}

package manifests_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/parleyhq/parley/deploy/imagebuild"
	"github.com/parleyhq/parley/deploy/manifests"
)

// portBase moves the dev stack's infrastructure and the local overlay's services as
// PARLEY_PORT_BASE does (docs/devstack.md): services base+0..6, Postgres +20, Redis +21, Kafka
// +22, S3 +23, SMTP +24, admin listeners +30..36. The w-img range, clear of a `make up`.
const portBase = 26600

// The local overlay brought up as docs/deploy.md says — every service's image built from this
// tree, loaded into podman, `podman kube play --network host` — against the dev stack's
// infrastructure, answers through the gateway: the gateway is ready (so every upstream is),
// registration goes through auth, and its event reaches profile over Kafka.
//
// The overlay names the dev stack's standard ports; this test moves them all by portBase in a
// copy, so that it never takes the ports of a stack a developer runs. It needs podman and fails
// where there is none, saying how to install it (.ci/run installs it).
func TestLocalOverlayRunsUnderPodman(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatal("podman is not installed: install it (as root: apt-get install podman runc; .ci/run does) — the local overlay must be run, not only rendered")
	}
	ctx := context.Background()
	tag := fmt.Sprintf("test-%d", os.Getpid())
	loadImages(ctx, t, tag)
	startInfra(ctx, t)

	// The overlay and the base, copied with every port moved and the test's image tag.
	dir := t.TempDir()
	for _, sub := range []string{"base", "overlays/local"} {
		copyDir(t, filepath.Join(root, manifests.Dir, sub), filepath.Join(dir, sub))
	}
	moves := []string{
		"127.0.0.1:5433", port(20), "127.0.0.1:6380", port(21), "127.0.0.1:9092", port(22),
		"127.0.0.1:9000", port(23), "127.0.0.1:1025", port(24), "localhost:8080", "localhost:" + strconv.Itoa(portBase),
		"newTag: local", "newTag: " + tag,
	}
	for i := range 7 {
		moves = append(moves, "127.0.0.1:"+strconv.Itoa(8080+i), port(i),
			"127.0.0.1:"+strconv.Itoa(9080+i), port(30+i), "value: "+strconv.Itoa(8080+i), "value: "+strconv.Itoa(portBase+i))
	}
	local := filepath.Join(dir, "overlays", "local")
	entries, err := os.ReadDir(local)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		p := filepath.Join(local, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.NewReplacer(moves...).Replace(string(b))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	objects, err := manifests.Render(ctx, root, local)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(objects, []byte(":8080")) || bytes.Contains(objects, []byte(":5433")) {
		t.Fatalf("a standard port is left in the rendering:\n%s", objects)
	}
	play := filepath.Join(dir, "local.yaml")
	if err := os.WriteFile(play, objects, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := podman(t, "kube", "play", "--network", "host", play); err != nil {
		t.Fatalf("podman kube play: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, svc := range []string{"gateway", "auth", "profile", "friend", "chat", "notification", "media"} {
				out, _ := podman(t, "logs", "--tail", "30", svc+"-pod-0-"+svc)
				t.Logf("%s:\n%s", svc, out)
			}
		}
		if out, err := podman(t, "kube", "down", play); err != nil {
			t.Errorf("podman kube down: %v\n%s", err, out)
		}
		// What a play that failed half-way left behind, which kube down does not find.
		for _, svc := range []string{"gateway", "auth", "profile", "friend", "chat", "notification", "media"} {
			_, _ = podman(t, "pod", "rm", "-f", "--ignore", svc+"-pod-0")
		}
	})

	gateway := "http://" + port(0)
	waitFor(t, 3*time.Minute, "the gateway ready (every upstream ready)", func() error {
		res, err := http.Get(gateway + "/readyz")
		if err != nil {
			return err
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz %d", res.StatusCode)
		}
		return nil
	})

	var reg struct {
		UserID string `json:"userId"`
		Tokens struct {
			AccessToken string `json:"accessToken"`
		} `json:"tokens"`
	}
	call(t, gateway, "parley.auth.v1.AuthService/Register", "",
		`{"email":"kube@example.com","password":"correct horse battery","nickname":"kubeplay"}`, &reg)
	if reg.UserID == "" || reg.Tokens.AccessToken == "" {
		t.Fatalf("Register answered %+v", reg)
	}
	// UserRegistered travels auth's outbox → Kafka → profile's consumer.
	waitFor(t, time.Minute, "the profile created from UserRegistered", func() error {
		var got struct {
			Profile struct{ UserID, Nickname string } `json:"profile"`
		}
		if err := tryCall(gateway, "parley.profile.v1.ProfileService/GetProfile", reg.Tokens.AccessToken, `{}`, &got); err != nil {
			return err
		}
		if got.Profile.UserID != reg.UserID || got.Profile.Nickname != "kubeplay" {
			return fmt.Errorf("profile %+v", got.Profile)
		}
		return nil
	})
}

func port(offset int) string { return "127.0.0.1:" + strconv.Itoa(portBase+offset) }

// loadImages builds every service's image and loads it into podman as localhost/parley-<svc>:tag.
func loadImages(ctx context.Context, t *testing.T, tag string) {
	t.Helper()
	services, err := imagebuild.Services(root)
	if err != nil {
		t.Fatal(err)
	}
	commit, err := imagebuild.HeadCommit(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	// podman names an image pulled from a layout after the layout's path, which must be a valid
	// (lower-case) repository name: t.TempDir's has the test's name in it.
	dir, err := os.MkdirTemp("", "parley-kube-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// Untag only the names this test gave (the pulls' are named after its path): another test
	// may hold the same image, with the same id, under a name of its own.
	t.Cleanup(func() {
		names, _ := podman(t, "images", "--format", "{{.Repository}}:{{.Tag}}")
		for _, n := range strings.Fields(names) {
			if strings.Contains(n, dir) {
				_, _ = podman(t, "rmi", n)
			}
		}
	})
	lp, err := layout.Write(filepath.Join(dir, "oci"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range services {
		bin := filepath.Join(dir, svc.Name)
		if err := imagebuild.BuildBinary(ctx, root, svc.Name, runtime.GOARCH, bin); err != nil {
			t.Fatal(err)
		}
		img, err := imagebuild.Image(imagebuild.Spec{Service: svc.Name, Binary: bin, Port: svc.Port, Arch: runtime.GOARCH,
			Revision: commit.Revision, Source: "https://github.com/parleyhq/parley", Created: commit.Time})
		if err != nil {
			t.Fatal(err)
		}
		if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": svc.Name})); err != nil {
			t.Fatal(err)
		}
		id, err := podman(t, "pull", "-q", "oci:"+filepath.Join(dir, "oci")+":"+svc.Name)
		if err != nil {
			t.Fatalf("podman pull %s: %v\n%s", svc.Name, err, id)
		}
		id = id[strings.LastIndex(id, "\n")+1:]
		name := "localhost/parley-" + svc.Name + ":" + tag
		if out, err := podman(t, "tag", id, name); err != nil {
			t.Fatalf("podman tag: %v\n%s", err, out)
		}
		t.Cleanup(func() { _, _ = podman(t, "rmi", name) })
	}
}

// startInfra runs the dev stack's infrastructure (`devstack infra`) at portBase in a data
// directory of the test's, until the test ends.
func startInfra(ctx context.Context, t *testing.T) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "devstack")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./devstack")
	build.Dir = root
	build.Env = append(os.Environ(), "GOWORK=") // the workspace, as `make up` builds it (make runs this module's tests with GOWORK=off)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the dev stack: %v\n%s", err, out)
	}
	var log bytes.Buffer
	cmd := exec.Command(bin, "infra")
	cmd.Dir = root
	// Not t.TempDir: its directories are 0700, and the dev stack's Postgres runs as the postgres
	// user, which must reach its data directory.
	data, err := os.MkdirTemp("", "parley-kube-infra-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(data, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(data) })
	cmd.Env = append(os.Environ(), "PARLEY_PORT_BASE="+strconv.Itoa(portBase), "PARLEY_DATA_DIR="+data)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("dev stack infrastructure:\n%s", log.String())
		}
	})
	waitFor(t, 3*time.Minute, "the dev stack's infrastructure", func() error {
		for _, off := range []int{20, 21, 22, 23, 24} {
			c, err := net.DialTimeout("tcp", port(off), time.Second)
			if err != nil {
				return err
			}
			_ = c.Close()
		}
		if !strings.Contains(log.String(), "infrastructure is up") && !strings.Contains(log.String(), "Ctrl-C stops") {
			return fmt.Errorf("not announced yet")
		}
		return nil
	})
}

// call makes a Connect call with JSON through the gateway and fails the test unless it succeeds.
func call(t *testing.T, gateway, procedure, token, body string, out any) {
	t.Helper()
	if err := tryCall(gateway, procedure, token, body, out); err != nil {
		t.Fatal(err)
	}
}

func tryCall(gateway, procedure, token, body string, out any) error {
	req, err := http.NewRequest(http.MethodPost, gateway+"/api/"+procedure, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d %s", procedure, res.StatusCode, b.String())
	}
	return json.Unmarshal(b.Bytes(), out)
}

// waitFor polls check until it returns nil, failing with its last error after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// podman runs podman as it works on these machines as root: runc, the cgroupfs manager, and a
// containers.conf without default ulimits (RLIMIT_NOFILE would be refused). CONTAINERS_CONF
// replaces the configuration file (Debian 12's podman 4.3 has no CONTAINERS_CONF_OVERRIDE).
func podman(t *testing.T, args ...string) (string, error) {
	t.Helper()
	conf := filepath.Join(os.TempDir(), "parley-test-containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("podman", append([]string{"--runtime", "/usr/sbin/runc", "--cgroup-manager", "cgroupfs"}, args...)...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+conf)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

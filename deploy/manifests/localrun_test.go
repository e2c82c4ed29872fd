package manifests_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/uuid"
	"go.yaml.in/yaml/v3"

	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	friendv1 "github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1"
	mediav1 "github.com/parleyhq/parley/contracts/gen/go/parley/media/v1"
	notificationv1 "github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1"
	"github.com/parleyhq/parley/deploy/imagebuild"
	"github.com/parleyhq/parley/deploy/manifests"
	"github.com/parleyhq/parley/devstack/e2e/conversation"
	"github.com/parleyhq/parley/devstack/stack/balance"
)

// portBase moves the dev stack's infrastructure and the local overlay's services as
// PARLEY_PORT_BASE does (docs/devstack.md): services base+0..6, Postgres +20, Redis +21, Kafka
// +22, S3 +23, SMTP +24, admin listeners +30..36. The w-img range, clear of a `make up`. Each
// service's balancer takes the service's port; replica r's pod has the block at base + 50(r+1)
// (its service port +0..6, its admin listener +30..36: replica 1 at 26700.., replica 2 at
// 26750..), clear of the image test's 26680-26681.
const portBase = 26600

// replicas is how many pods of every service the test runs: the base's Deployments ask for two.
const replicas = 2

// The local overlay brought up as docs/deploy.md says — every service's image built from this
// tree, loaded into podman, `podman kube play --network host` — against the dev stack's
// infrastructure, with two pods of every service, then driven through the gateway: sign-ups
// (auth, and profile over Kafka), friends (friend, notification), chats with every person on a
// WebSocket (chat, the gateways' fan-out through Kafka and Redis), media's quota; then a rolling
// restart of every service, pod by pod, while people keep talking, and a hard kill (testRolling).
//
// On the host network two pods of one service cannot share its port, and podman 4.3's kube play,
// given a Deployment of two replicas, starts two identical pods (<name>-pod-0, -pod-1) whose
// second cannot bind. So the test plays the overlay's rendering once per replica, each copy with
// its Deployments renamed (<service>-<r>) and its services' listeners moved to the replica's
// ports, and puts the dev stack's balancer (devstack/stack/balance) on each service's usual port
// in front of its pair, where the Kubernetes Service would be: nothing else in the rendering
// changes, and every service still calls the others at their usual ports. The overlay's ports are
// moved by portBase in a copy first, so that the test never takes the ports of a stack a
// developer runs. It needs podman and fails where there is none, saying how to install it
// (.ci/run installs it).
func TestLocalOverlayRunsUnderPodman(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatal("podman is not installed: install it (as root: apt-get install podman runc; .ci/run does) — the local overlay must be run, not only rendered")
	}
	ctx := context.Background()
	tag := fmt.Sprintf("test-%d", os.Getpid())
	loadImages(ctx, t, tag)
	startInfra(ctx, t)
	objects := renderMoved(ctx, t, tag)

	// auth's keys: one host directory every auth pod mounts (the overlay's hostPath, moved here),
	// writable by the image's user, so that both replicas sign and verify with the same key.
	keys, err := os.MkdirTemp("", "parley-kube-keys-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(keys) })
	if err := os.Chown(keys, imageUser, imageUser); err != nil {
		t.Fatal(err)
	}

	f := &fleet{t: t, balancers: map[string]*balance.Balancer{}}
	for off, svc := range services {
		var backends []string
		for r := 1; r <= replicas; r++ {
			backends = append(backends, replicaAddr(r, off))
		}
		b, err := balance.Start(svc, port(off), backends, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		f.balancers[svc] = b
	}
	dir := t.TempDir()
	for r := 1; r <= replicas; r++ {
		play := filepath.Join(dir, fmt.Sprintf("replica-%d.yaml", r))
		if err := os.WriteFile(play, replicaObjects(t, objects, r, keys), 0o644); err != nil {
			t.Fatal(err)
		}
		f.plays = append(f.plays, play)
	}
	t.Cleanup(f.down)
	for _, play := range f.plays {
		if out, err := podman(t, "kube", "play", "--network", "host", play); err != nil {
			t.Fatalf("podman kube play %s: %v\n%s", filepath.Base(play), err, out)
		}
	}
	if _, err := podman(t, "pod", "exists", podName(services[0], 1)); err != nil {
		podSuffix = "-pod"
		if out, err := podman(t, "pod", "exists", podName(services[0], 1)); err != nil {
			t.Fatalf("no pod %s-1-pod-0 nor %s after the play: %v %s", services[0], podName(services[0], 1), err, out)
		}
	}
	for r := 1; r <= replicas; r++ {
		for off, svc := range services {
			waitFor(t, 3*time.Minute, podName(svc, r)+" ready", func() error { return ready(replicaAddr(r, off)) })
		}
	}
	gateway := "http://" + port(0)
	waitFor(t, time.Minute, "the gateway ready through its balancer (every upstream ready)", func() error { return ready(port(0)) })

	c := newClients(gateway)
	s := c.scenario(gateway)
	t.Run("Scenarios", func(t *testing.T) { testScenarios(t, c, s) })
	t.Run("RollingRestart", func(t *testing.T) { testRolling(t, f, c, s) })
}

// testScenarios: a representative part of the end-to-end scenarios through the gateway, each
// service's two pods behind its balancer — sign-up (auth → UserRegistered → profile), a friend
// request (friend → notification), the chat it opens (chat) and a message delivered on the
// receiver's WebSocket on the other gateway pod (Kafka, Redis fan-out), media's quota.
func testScenarios(t *testing.T, c clients, s *conversation.Scenario) {
	ctx := context.Background()
	a, b := signUp(t, c, "kube"), signUp(t, c, "kube")
	sent := eventually(t, "friend request", func() (*friendv1.SendFriendRequestResponse, error) {
		return msgOf(c.Friend.SendFriendRequest(ctx, conversation.WithToken(&friendv1.SendFriendRequestRequest{UserId: b.ID}, a.Token)))
	})
	s.WaitNotification(t, b, notificationv1.NotificationKind_NOTIFICATION_KIND_FRIEND_REQUEST, "")
	if _, err := c.Friend.AcceptFriendRequest(ctx, conversation.WithToken(&friendv1.AcceptFriendRequestRequest{RequestId: sent.GetRequest().GetRequestId()}, b.Token)); err != nil {
		t.Fatalf("accept: %v", err)
	}
	s.WaitNotification(t, a, notificationv1.NotificationKind_NOTIFICATION_KIND_FRIEND_ACCEPTED, "")
	chatID := eventually(t, "a chat", func() (*chatv1.GetChatResponse, error) {
		return msgOf(c.Chat.GetChat(ctx, conversation.WithToken(&chatv1.GetChatRequest{By: &chatv1.GetChatRequest_UserId{UserId: b.ID}}, a.Token)))
	}).GetChat().GetChatId()
	d := s.NewDevice(b, chatID)
	if err := d.Connect("http://" + replicaAddr(2, 0)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	d.WaitSynced(t)
	msg, err := c.Chat.SendMessage(ctx, conversation.WithToken(&chatv1.SendMessageRequest{
		To: &chatv1.SendMessageRequest_ChatId{ChatId: chatID}, ClientMsgId: uuid.NewString(), Text: "hello from the pods"}, a.Token))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, b.Nickname+"'s device receiving the message", func() (bool, error) {
		if d.Contiguous() < msg.Msg.GetMessage().GetSeq() {
			return false, errors.New("not yet")
		}
		return true, nil
	})
	if got := d.Received(msg.Msg.GetMessage().GetSeq()); got != msg.Msg.GetMessage().GetMessageId() {
		t.Errorf("the device holds %q at seq %d, %q sent", got, msg.Msg.GetMessage().GetSeq(), msg.Msg.GetMessage().GetMessageId())
	}
	for _, p := range d.Problems() {
		t.Error(p)
	}
	s.WaitNotification(t, b, notificationv1.NotificationKind_NOTIFICATION_KIND_MESSAGE, chatID)
	if _, err := c.media.GetQuota(ctx, conversation.WithToken(&mediav1.GetQuotaRequest{}, a.Token)); err != nil {
		t.Errorf("media's quota: %v", err)
	}
}

// testRolling: as TestReplicas' rolling restart (devstack/e2e/replicas_test.go), on pods. Three
// pairs of friends chat, each person on a WebSocket (one of each pair on each gateway pod), each
// sending every 150 ms and retrying a failed send with the same client_msg_id; newcomers sign up
// every 300 ms. Meanwhile every service is restarted pod by pod (out of its balancer's rotation
// RotationLag after the stop signal, `podman pod stop` — SIGTERM, the drain — `podman pod start`,
// back in rotation once /readyz answers), and then one chat pod is killed (SIGKILL) and started
// again. Afterwards every chat holds exactly what the senders were told was sent, seq 1..N
// without a gap or a repeat, each sender's in order; every device got all of it, every
// connection's replay and live frames ran seq by seq, every connection a gateway restart closed
// was closed with 1001 and resumed with sync; each message notification counts exactly the
// friend's messages; every newcomer has a profile and exactly one notification of a friend
// request; no pod restarted on its own.
func testRolling(t *testing.T, f *fleet, c clients, s *conversation.Scenario) {
	const pairs = 3
	var people []conversation.Person
	for range pairs * 2 {
		people = append(people, signUp(t, c, "roll"))
	}
	chats := make([]string, pairs)
	for i := range pairs {
		a, b := people[2*i], people[2*i+1]
		befriend(t, c, a, b)
		chats[i] = eventually(t, "a chat", func() (*chatv1.GetChatResponse, error) {
			return msgOf(c.Chat.GetChat(context.Background(), conversation.WithToken(&chatv1.GetChatRequest{By: &chatv1.GetChatRequest_UserId{UserId: b.ID}}, a.Token)))
		}).GetChat().GetChatId()
	}
	devices := s.Devices(t, people, chats, func(r int) string { return "http://" + replicaAddr(r, 0) })

	// Everyone sends, and new people sign up meanwhile, until everyone has sent a few.
	talk := s.Start(t, people, chats)
	begin := time.Now()
	for off, svc := range services {
		for r := 1; r <= replicas; r++ {
			if err := f.restart(svc, off, r); err != nil {
				talk.Stop()
				t.Fatalf("restart %s: %v", podName(svc, r), err)
			}
		}
	}
	t.Logf("rolling restart of %d pods took %s", len(services)*replicas, time.Since(begin).Round(100*time.Millisecond))
	// A hard kill: chat's first pod gets SIGKILL mid-conversation, no drain; sends in flight on it
	// fail and are retried with the same client_msg_id, through the other pod.
	begin = time.Now()
	if err := f.kill("chat", 4, 1); err != nil {
		talk.Stop()
		t.Fatalf("kill %s: %v", podName("chat", 1), err)
	}
	t.Logf("%s killed and ready again in %s", podName("chat", 1), time.Since(begin).Round(10*time.Millisecond))
	talk.SendMore(t)
	talk.Check(t, devices, chats, people[0])
	for _, svc := range services {
		for r := 1; r <= replicas; r++ {
			n, err := podman(t, "inspect", "--format", "{{.RestartCount}}", containerName(svc, r))
			if err != nil {
				t.Errorf("inspect %s: %v %s", containerName(svc, r), err, n)
			} else if n != "0" {
				t.Errorf("%s restarted %s times on its own", containerName(svc, r), n)
			}
		}
	}
	if counts := f.balancers["gateway"].AcceptedCounts(); len(counts) != replicas || counts[0] == 0 || counts[1] == 0 {
		t.Errorf("the gateway's balancer handed out connections %v, want some to each pod", counts)
	}
}

// fleet is the pods of every service and the balancers in front of them.
type fleet struct {
	t         *testing.T
	plays     []string // one rendering per replica
	balancers map[string]*balance.Balancer
}

// rotationLag keeps a stopping pod in its balancer's rotation for a moment after its stop signal,
// as a pod's endpoint stays in a Kubernetes rolling update: callers meet refused connections and
// must retry (as TestReplicas' RotationLag).
const rotationLag = 500 * time.Millisecond

// restart replaces pod r of a service the way a rolling update does: the stop signal (podman
// sends SIGTERM and waits the grace period before SIGKILL), out of the balancer's rotation
// rotationLag later, the pod started again, back in rotation once it answers /readyz. A pod that
// had to be killed is an error.
func (f *fleet) restart(svc string, off, r int) error {
	b := f.balancers[svc]
	b.SetRotation(r-1, balance.Terminating)
	time.AfterFunc(rotationLag, func() { b.LeaveRotation(r - 1) })
	begin := time.Now()
	if out, err := podman(f.t, "pod", "stop", "--time", strconv.Itoa(stopTimeout), podName(svc, r)); err != nil {
		return fmt.Errorf("podman pod stop: %w\n%s", err, out)
	}
	code, err := podman(f.t, "inspect", "--format", "{{.State.ExitCode}}", containerName(svc, r))
	if err != nil {
		return fmt.Errorf("inspect: %w\n%s", err, code)
	}
	if code != "0" {
		logs, _ := podman(f.t, "logs", "--tail", "20", containerName(svc, r))
		return fmt.Errorf("exited with %s after its stop signal (137: killed after %ds), its last lines:\n%s", code, stopTimeout, logs)
	}
	stopped := time.Since(begin)
	if err := f.start(svc, off, r); err != nil {
		return err
	}
	f.t.Logf("%s: stopped in %s, ready again %s later", podName(svc, r), stopped.Round(10*time.Millisecond), (time.Since(begin) - stopped).Round(10*time.Millisecond))
	return nil
}

// kill sends SIGKILL to pod r's container, in rotation still (the balancer passes over a
// replica that refuses), and starts the pod again.
func (f *fleet) kill(svc string, off, r int) error {
	if out, err := podman(f.t, "kill", "--signal", "KILL", containerName(svc, r)); err != nil {
		return fmt.Errorf("podman kill: %w\n%s", err, out)
	}
	if out, err := podman(f.t, "pod", "stop", "--time", "0", podName(svc, r)); err != nil {
		return fmt.Errorf("podman pod stop: %w\n%s", err, out)
	}
	f.balancers[svc].SetRotation(r-1, balance.OutOfRotation)
	return f.start(svc, off, r)
}

// start starts pod r again and puts it back in rotation once it is ready. podman 4.3 stops a
// kube-played pod when its last container exits (the pod's exit policy), from the container's
// cleanup process, which may run only after `pod stop` returned: a start in that moment is
// stopped again at once. So a pod found not running while it should be starting is started
// again.
func (f *fleet) start(svc string, off, r int) error {
	deadline := time.Now().Add(2 * time.Minute)
	for starts := 0; ; {
		running, err := podman(f.t, "inspect", "--format", "{{.State.Running}}", containerName(svc, r))
		if err != nil {
			return fmt.Errorf("inspect: %w\n%s", err, running)
		}
		if running != "true" {
			if starts > 0 {
				f.t.Logf("%s was stopped again as it started (podman's exit policy, late); starting it again", podName(svc, r))
			}
			if starts == 10 {
				return fmt.Errorf("stopped again after %d starts", starts)
			}
			if out, err := podman(f.t, "pod", "start", podName(svc, r)); err != nil {
				return fmt.Errorf("podman pod start: %w\n%s", err, out)
			}
			starts++
		}
		err = ready(replicaAddr(r, off))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			logs, _ := podman(f.t, "logs", "--tail", "20", containerName(svc, r))
			return fmt.Errorf("not ready 2 minutes after its start: %w; its last lines:\n%s", err, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	f.balancers[svc].SetRotation(r-1, balance.InRotation)
	return nil
}

// down logs every pod's last lines if the test failed, and removes the pods.
func (f *fleet) down() {
	t := f.t
	if t.Failed() {
		for r := 1; r <= replicas; r++ {
			for _, svc := range services {
				out, _ := podman(t, "logs", "--tail", "40", containerName(svc, r))
				t.Logf("%s:\n%s", containerName(svc, r), out)
			}
		}
	}
	for _, play := range f.plays {
		if out, err := podman(t, "kube", "down", play); err != nil {
			t.Errorf("podman kube down %s: %v\n%s", filepath.Base(play), err, out)
		}
	}
	// What a play that failed half-way left behind, which kube down does not find.
	for r := 1; r <= replicas; r++ {
		for _, svc := range services {
			for _, suffix := range []string{"-pod-0", "-pod"} {
				_, _ = podman(t, "pod", "rm", "-f", "--ignore", fmt.Sprintf("%s-%d%s", svc, r, suffix))
			}
		}
	}
}

// stopTimeout is how long podman waits after SIGTERM before SIGKILL: the longest drain
// (the gateway's SHUTDOWN_TIMEOUT, 15s) and some.
const stopTimeout = 30

// imageUser is the user the images and the Deployments run as (runAsUser).
const imageUser = 65532

// podSuffix is what podman appends to a Deployment's name to name its pod: "-pod-0" in podman
// 4.3 (Debian 12), "-pod" in later versions (GitHub's Ubuntu runners); the test looks once the
// pods are played.
var podSuffix = "-pod-0"

// podName is replica r's pod, as podman names the pod of Deployment <service>-<r>.
func podName(svc string, r int) string { return fmt.Sprintf("%s-%d%s", svc, r, podSuffix) }

func containerName(svc string, r int) string { return podName(svc, r) + "-" + svc }

// replicaAddr is where replica r's listener at offset off (a service's 0..6, its admin's 30..36) is.
func replicaAddr(r, off int) string { return "127.0.0.1:" + strconv.Itoa(portBase+50*(r+1)+off) }

// ready is nil once addr answers /readyz with 200.
func ready(addr string) error {
	client := http.Client{Timeout: 2 * time.Second}
	res, err := client.Get("http://" + addr + "/readyz")
	if err != nil {
		return err
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz %d", res.StatusCode)
	}
	return nil
}

// renderMoved renders the local overlay from a copy of it and the base with every port moved by
// portBase and the test's image tag.
func renderMoved(ctx context.Context, t *testing.T, tag string) []byte {
	t.Helper()
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
	return objects
}

// replicaObjects is what replica r plays: the rendering's Deployments, each renamed <service>-<r>
// with its probes at the replica's port and auth's key directory at keys, and the ConfigMaps,
// each service's listeners (LISTEN_ADDR, ADMIN_ADDR) moved to the replica's ports. Every
// address a service calls stays the usual one, its balancer's. The gateway's rate limits are
// raised as TestReplicas raises them: the senders send more than a person's per-minute budget,
// and every sign-up comes from one address (the limits are tested in the gateway's own suite).
// The rest (Services, ServiceAccounts, PodDisruptionBudgets) podman has no use for.
func replicaObjects(t *testing.T, objects []byte, r int, keys string) []byte {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(objects))
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	deployments := 0
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		meta, _ := obj["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		switch obj["kind"] {
		case "ConfigMap":
			data, _ := obj["data"].(map[string]any)
			for off := range services {
				if data["LISTEN_ADDR"] != port(off) {
					continue
				}
				data["LISTEN_ADDR"], data["ADMIN_ADDR"] = replicaAddr(r, off), replicaAddr(r, 30+off)
				if off == 0 {
					data["RATE_LIMIT_AUTH"], data["RATE_LIMIT_USER"] = "10000", "100000"
				}
			}
		case "Deployment":
			off := slices.Index(services, name)
			if off < 0 {
				t.Fatalf("a Deployment %q of no known service", name)
			}
			meta["name"] = fmt.Sprintf("%s-%d", name, r)
			moved := 0
			walk(obj, func(m map[string]any) {
				if get, ok := m["httpGet"].(map[string]any); ok && get["port"] == portBase+off {
					get["port"] = portBase + 50*(r+1) + off
					moved++
				}
				if hp, ok := m["hostPath"].(map[string]any); ok && hp["path"] == localAuthKeys {
					hp["path"] = keys
					moved++
				}
			})
			if want := map[bool]int{true: 4, false: 3}[name == "auth"]; moved != want {
				t.Fatalf("%s: moved %d probe ports and key directories, want %d", name, moved, want)
			}
			deployments++
		default:
			continue
		}
		if err := enc.Encode(obj); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if deployments != len(services) {
		t.Fatalf("%d Deployments in the rendering, want %d", deployments, len(services))
	}
	if n := bytes.Count(out.Bytes(), []byte("LISTEN_ADDR: "+replicaAddr(r, 0)[:len("127.0.0.1:267")])); n != len(services) {
		t.Fatalf("%d services' listeners moved, want %d:\n%s", n, len(services), out.Bytes())
	}
	return out.Bytes()
}

// localAuthKeys is the local overlay's host directory for auth's keys (its kustomization.yaml).
const localAuthKeys = "/var/lib/parley-local/auth-keys"

// walk calls f on every mapping in v, depth first.
func walk(v any, f func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		f(v)
		for _, e := range v {
			walk(e, f)
		}
	case []any:
		for _, e := range v {
			walk(e, f)
		}
	}
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

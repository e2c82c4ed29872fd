package manifests_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/parleyhq/parley/deploy/k8sschema"
	"github.com/parleyhq/parley/deploy/manifests"
)

const root = "../.."

func schemas(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(root, manifests.SchemaDir)
	if err := k8sschema.Ensure(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Every kustomization renders, and kubeconform finds every object valid: none skipped for want
// of a schema.
func TestEveryKustomizationIsValid(t *testing.T) {
	dirs, err := manifests.Kustomizations(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"deploy/kubernetes/base", "deploy/kubernetes/overlays/local", "deploy/kubernetes/overlays/production", "deploy/kubernetes/secrets"}
	if !slices.Equal(dirs, want) {
		t.Fatalf("kustomizations %q, want %q", dirs, want)
	}
	out := t.TempDir()
	reports, err := manifests.Check(context.Background(), root, out)
	if err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(reports, "\n"))
	}
	summary := regexp.MustCompile(`(\d+) resources found.*Valid: (\d+), Invalid: 0, Errors: 0, Skipped: 0`)
	for _, r := range reports {
		m := summary.FindStringSubmatch(r)
		if m == nil || m[1] != m[2] || m[1] == "0" {
			t.Errorf("report without every resource valid: %s", r)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "overlays-production.yaml")); err != nil {
		t.Error(err)
	}
}

// A manifest the API would refuse fails the validation: a misspelt field, a value of the wrong
// type, a kind no schema describes.
func TestBrokenManifestsFail(t *testing.T) {
	ctx := context.Background()
	dir := schemas(t)
	good, err := manifests.Render(ctx, root, "deploy/kubernetes/overlays/production")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := manifests.Validate(ctx, root, dir, good); err != nil {
		t.Fatalf("the production overlay itself: %v", err)
	}
	for _, c := range []struct{ name, from, to, report string }{
		{"misspelt field", "readinessProbe:", "readinesProbe:", "readinesProbe"},
		{"wrong type", "maxUnavailable: 1\n", "maxUnavailable: [1]\n", "maxUnavailable"},
		{"missing required field", "  - name: http\n    port: 8080\n", "  - name: http\n", "port"},
		{"unknown kind", "kind: PodDisruptionBudget", "kind: PodDisruptionBudgett", "PodDisruptionBudgett"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !bytes.Contains(good, []byte(c.from)) {
				t.Fatalf("the rendering has no %q to break", c.from)
			}
			broken := bytes.Replace(good, []byte(c.from), []byte(c.to), 1)
			report, err := manifests.Validate(ctx, root, dir, broken)
			if err == nil {
				t.Fatalf("validation passed:\n%s", report)
			}
			if !strings.Contains(report, c.report) {
				t.Errorf("report does not name %q:\n%s", c.report, report)
			}
		})
	}
}

// object is one rendered Kubernetes object.
type object map[string]any

func (o object) kind() string { return o.str("kind") }
func (o object) name() string { return o.str("metadata", "name") }

// get follows keys (strings for maps, ints for lists) and returns nil when a step is missing.
func (o object) get(path ...any) any {
	var v any = map[string]any(o)
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func (o object) str(path ...any) string { s, _ := o.get(path...).(string); return s }
func (o object) num(path ...any) int    { n, _ := o.get(path...).(int); return n }

func render(t *testing.T, dir string) []object {
	t.Helper()
	out, err := manifests.Render(context.Background(), root, dir)
	if err != nil {
		t.Fatal(err)
	}
	var objs []object
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var o map[string]any
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, object(o))
	}
}

func find(objs []object, kind, name string) object {
	for _, o := range objs {
		if o.kind() == kind && o.name() == name {
			return o
		}
	}
	return nil
}

// services are the Deployments, in the dev stack's order (their ports 8080..8086): the podman
// test restarts them in it.
var services = []string{"gateway", "auth", "profile", "friend", "chat", "notification", "media"}

// The production overlay holds what docs/deploy.md promises for every service.
func TestProductionOverlay(t *testing.T) {
	objs := render(t, "deploy/kubernetes/overlays/production")
	configs := map[string]map[string]string{}
	for _, o := range objs {
		if o.kind() == "ConfigMap" {
			data := map[string]string{}
			m, _ := o.get("data").(map[string]any) // nil for a ConfigMap of defaults only
			for k, v := range m {
				data[k] = v.(string)
			}
			configs[strings.TrimSuffix(o.name(), "-"+lastPart(o.name()))] = data
		}
	}
	for _, svc := range services {
		t.Run(svc, func(t *testing.T) {
			d := find(objs, "Deployment", svc)
			if d == nil {
				t.Fatal("no Deployment")
			}
			if d.str("metadata", "namespace") != "parley" {
				t.Errorf("namespace %q", d.str("metadata", "namespace"))
			}
			replicas := d.num("spec", "replicas")
			if hpa := find(objs, "HorizontalPodAutoscaler", svc); hpa != nil {
				if hpa.str("spec", "scaleTargetRef", "name") != svc || hpa.num("spec", "minReplicas") < 2 {
					t.Errorf("autoscaler %v", hpa.get("spec"))
				}
				if d.get("spec", "replicas") != nil {
					t.Error("replicas set beside an autoscaler: every apply would reset its count")
				}
			} else if replicas < 2 {
				t.Errorf("%d replicas, want at least 2", replicas)
			}
			if svc == "gateway" || svc == "chat" {
				if find(objs, "HorizontalPodAutoscaler", svc) == nil {
					t.Error("no HorizontalPodAutoscaler")
				}
			}
			pod := object(d.get("spec", "template", "spec").(map[string]any))
			c := object(pod.get("containers", 0).(map[string]any))
			if c.str("readinessProbe", "httpGet", "path") != "/readyz" || c.str("livenessProbe", "httpGet", "path") != "/healthz" {
				t.Errorf("probes: readiness %v, liveness %v", c.get("readinessProbe"), c.get("livenessProbe"))
			}
			for _, r := range [][]any{{"requests", "cpu"}, {"requests", "memory"}, {"limits", "memory"}} {
				if c.get(append([]any{"resources"}, r...)...) == nil {
					t.Errorf("no resources.%s.%s", r[0], r[1])
				}
			}
			if !strings.Contains(c.str("image"), "@sha256:") {
				t.Errorf("image %q is not pinned by digest", c.str("image"))
			}
			// The grace period outlasts the preStop pause and the drain (SHUTDOWN_TIMEOUT, 10s
			// unless the service's ConfigMap says otherwise).
			drain := 10 * time.Second
			if s, ok := configs["parley-"+svc]["SHUTDOWN_TIMEOUT"]; ok {
				if drain, _ = time.ParseDuration(s); drain == 0 {
					t.Fatalf("SHUTDOWN_TIMEOUT %q", s)
				}
			}
			pause := time.Duration(c.num("lifecycle", "preStop", "sleep", "seconds")) * time.Second
			grace := time.Duration(pod.num("terminationGracePeriodSeconds")) * time.Second
			if grace <= pause+drain {
				t.Errorf("terminationGracePeriodSeconds %v, not longer than preStop %v + drain %v", grace, pause, drain)
			}
			if pod.get("securityContext", "runAsNonRoot") != true || c.get("securityContext", "readOnlyRootFilesystem") != true ||
				c.get("securityContext", "allowPrivilegeEscalation") != false {
				t.Errorf("security contexts: pod %v, container %v", pod.get("securityContext"), c.get("securityContext"))
			}
			if sa := pod.str("serviceAccountName"); find(objs, "ServiceAccount", sa) == nil {
				t.Errorf("service account %q does not exist", sa)
			}
			var refs []string
			for _, e := range c.get("envFrom").([]any) {
				e := object(e.(map[string]any))
				refs = append(refs, e.str("configMapRef", "name")+e.str("secretRef", "name"))
			}
			if !slices.Contains(refs, "parley-"+svc) { // the Secret, created apart from the overlay
				t.Errorf("envFrom %q: no Secret parley-%s", refs, svc)
			}
			if pdb := find(objs, "PodDisruptionBudget", svc); pdb == nil || pdb.str("spec", "selector", "matchLabels", "app.kubernetes.io/name") != svc {
				t.Error("no PodDisruptionBudget selecting the pods")
			}
			if find(objs, "Service", svc) == nil {
				t.Error("no Service")
			}
		})
	}
	ing := find(objs, "Ingress", "gateway")
	if ing == nil || ing.str("spec", "rules", 0, "http", "paths", 0, "backend", "service", "name") != "gateway" {
		t.Fatalf("no Ingress to the gateway: %v", ing)
	}
	if ing.str("metadata", "annotations", "nginx.ingress.kubernetes.io/proxy-read-timeout") != "3600" {
		t.Errorf("Ingress annotations %v: no WebSocket-long read timeout", ing.get("metadata", "annotations"))
	}
	if find(objs, "Secret", "parley-chat") != nil {
		t.Error("the production overlay carries a Secret: applying it would overwrite the real one")
	}
	// Kafka over TLS with SASL (docs/deploy.md#kafka): the mechanism for everyone, and a user and
	// password in every service's Secret, which the services refuse to start without.
	if common := configs["parley-common"]; common["KAFKA_TLS"] != "true" || common["KAFKA_SASL_MECHANISM"] == "" {
		t.Errorf("parley-common: KAFKA_TLS=%q KAFKA_SASL_MECHANISM=%q; want TLS and SASL", common["KAFKA_TLS"], common["KAFKA_SASL_MECHANISM"])
	}
	secrets := render(t, "deploy/kubernetes/secrets")
	for _, svc := range services {
		s := find(secrets, "Secret", "parley-"+svc)
		if s == nil {
			t.Errorf("no Secret parley-%s in deploy/kubernetes/secrets", svc)
			continue
		}
		if s.str("stringData", "KAFKA_SASL_USERNAME") != "parley-"+svc || s.str("stringData", "KAFKA_SASL_PASSWORD") == "" {
			t.Errorf("Secret parley-%s: no Kafka user parley-%s with a password", svc, svc)
		}
	}
}

func lastPart(name string) string { return name[strings.LastIndex(name, "-")+1:] }

// The network policies allow exactly the calls the services make: each service's callees are
// read from its configuration (the peers' URLs it embeds, services/<svc>/config.go), so a new
// call without its policy fails here.
func TestNetworkPoliciesFollowTheCalls(t *testing.T) {
	objs := render(t, "deploy/kubernetes/overlays/production")
	peerField := regexp.MustCompile(`(?m)^\s*config\.(Auth|Profile|Friend|Chat|Notification|Media)(Peer|JWKS)\b`)
	calls := map[string][]string{}
	for _, svc := range services {
		src, err := os.ReadFile(filepath.Join(root, "services", svc, "config.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range peerField.FindAllStringSubmatch(string(src), -1) {
			callee := strings.ToLower(m[1])
			if !slices.Contains(calls[svc], callee) {
				calls[svc] = append(calls[svc], callee)
			}
		}
		slices.Sort(calls[svc])
	}
	if len(calls["gateway"]) != 6 || !slices.Contains(calls["chat"], "friend") {
		t.Fatalf("calls read from the configs look wrong: %v", calls)
	}
	if find(objs, "NetworkPolicy", "parley-default-deny") == nil {
		t.Fatal("no default-deny policy")
	}
	podNames := func(rules any, side string) []string {
		var names []string
		for _, r := range asList(rules) {
			for _, peer := range asList(object(r.(map[string]any)).get(side)) {
				if n := object(peer.(map[string]any)).str("podSelector", "matchLabels", "app.kubernetes.io/name"); n != "" {
					names = append(names, n)
				}
			}
		}
		slices.Sort(names)
		return names
	}
	for _, svc := range services {
		np := find(objs, "NetworkPolicy", svc)
		if np == nil {
			t.Errorf("%s: no NetworkPolicy", svc)
			continue
		}
		if got := podNames(np.get("spec", "egress"), "to"); !slices.Equal(got, calls[svc]) {
			t.Errorf("%s may call %v, its configuration calls %v", svc, got, calls[svc])
		}
		var callers []string
		for caller, callees := range calls {
			if slices.Contains(callees, svc) {
				callers = append(callers, caller)
			}
		}
		slices.Sort(callers)
		if got := podNames(np.get("spec", "ingress"), "from"); !slices.Equal(got, callers) {
			t.Errorf("%s may be called by %v, is called by %v", svc, got, callers)
		}
	}
}

func asList(v any) []any { l, _ := v.([]any); return l }

// The local overlay runs one replica of each service on the host network at the dev stack's
// ports, against the dev stack's infrastructure.
func TestLocalOverlay(t *testing.T) {
	objs := render(t, "deploy/kubernetes/overlays/local")
	for i, svc := range services {
		d := find(objs, "Deployment", svc)
		if d == nil {
			t.Fatalf("%s: no Deployment", svc)
		}
		if d.get("spec", "template", "spec", "hostNetwork") != true || d.num("spec", "replicas") != 1 {
			t.Errorf("%s: hostNetwork %v replicas %v", svc, d.get("spec", "template", "spec", "hostNetwork"), d.get("spec", "replicas"))
		}
		var cm object
		for _, o := range objs {
			if o.kind() == "ConfigMap" && strings.TrimSuffix(o.name(), "-"+lastPart(o.name())) == "parley-"+svc {
				cm = o
			}
		}
		if want := fmt.Sprintf("127.0.0.1:%d", 8080+i); cm.str("data", "LISTEN_ADDR") != want {
			t.Errorf("%s: LISTEN_ADDR %q, want %s", svc, cm.str("data", "LISTEN_ADDR"), want)
		}
	}
	for _, kind := range []string{"HorizontalPodAutoscaler", "NetworkPolicy", "Ingress"} {
		for _, o := range objs {
			if o.kind() == kind {
				t.Errorf("%s %s in the local overlay", kind, o.name())
			}
		}
	}
}

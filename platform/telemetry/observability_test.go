package telemetry_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/parleyhq/parley/platform/telemetry"
)

// repoFile reads a file of the repository this module lives in (platform/ is one level down).
func repoFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var metricName = regexp.MustCompile(`\bparley_[a-z0-9_]+`)

// checkMetrics fails for every parley_ name in expr that no service exports (a histogram's
// _bucket, _sum and _count series count as its name).
func checkMetrics(t *testing.T, where, expr string) {
	t.Helper()
	names := metricName.FindAllString(expr, -1)
	if len(names) == 0 {
		t.Errorf("%s: no Parley metric in %q", where, expr)
	}
	for _, n := range names {
		base := n
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suffix); ok && b == telemetry.MetricRPCDuration {
				base = b
			}
		}
		if !slices.Contains(telemetry.MetricNames(), base) {
			t.Errorf("%s: %s is not a metric the services export (telemetry.MetricNames)", where, n)
		}
	}
	if strings.Count(expr, "(") != strings.Count(expr, ")") || strings.Count(expr, "{") != strings.Count(expr, "}") {
		t.Errorf("%s: unbalanced brackets in %q", where, expr)
	}
}

// TestAlertRulesParseAndNameExportedMetrics reads deploy/observability/alerts.yml as Prometheus
// does (rule groups of alerts with an expression, a duration, labels and annotations) and checks
// each alert names only exported metrics and has its runbook entry in docs/telemetry.md. (The
// PromQL itself is not parsed here: promtool is not among this module's dependencies; `promtool
// check rules deploy/observability/alerts.yml` does that where it is installed.)
func TestAlertRulesParseAndNameExportedMetrics(t *testing.T) {
	var doc struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(repoFile(t, "deploy/observability/alerts.yml"))))
	dec.KnownFields(true) // a misspelt key is an error, as Prometheus makes it
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	runbook := string(repoFile(t, "docs/telemetry.md"))
	want := []string{"ParleyOutboxStuck", "ParleyConsumerLag", "ParleyDeadLetters", "ParleyErrorRatio", "ParleyLatencyP99"}
	var alerts []string
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("group %s: a rule without alert or expr: %+v", g.Name, r)
				continue
			}
			checkMetrics(t, r.Alert, r.Expr)
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for %q: %v", r.Alert, r.For, err)
				}
			}
			if sev := r.Labels["severity"]; sev != "page" && sev != "warn" {
				t.Errorf("%s: severity %q, want page or warn", r.Alert, sev)
			}
			anchor := "docs/telemetry.md#" + strings.ToLower(r.Alert)
			if r.Annotations["runbook_url"] != anchor {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], anchor)
			}
			if !strings.Contains(runbook, "\n### "+r.Alert+"\n") {
				t.Errorf("%s: no runbook entry (### %s) in docs/telemetry.md", r.Alert, r.Alert)
			}
		}
	}
	for _, a := range want {
		if !slices.Contains(alerts, a) {
			t.Errorf("no alert %s; have %v", a, alerts)
		}
	}
}

// TestDashboardNamesExportedMetrics reads the Grafana dashboard and checks every query names only
// exported metrics, and that every exported metric is shown somewhere.
func TestDashboardNamesExportedMetrics(t *testing.T) {
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(repoFile(t, "deploy/observability/grafana-dashboard.json"), &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	shown := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			checkMetrics(t, "panel "+p.Title, q.Expr)
			for _, n := range metricName.FindAllString(q.Expr, -1) {
				shown[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")] = true
			}
		}
	}
	for _, n := range telemetry.MetricNames() {
		if !shown[n] {
			t.Errorf("%s is exported but on no panel", n)
		}
	}
}

// TestEveryMetricIsDocumented checks docs/telemetry.md names every metric: a name only the code
// knows is a defect.
func TestEveryMetricIsDocumented(t *testing.T) {
	doc := string(repoFile(t, "docs/telemetry.md"))
	for _, n := range telemetry.MetricNames() {
		if !strings.Contains(doc, "`"+n+"`") {
			t.Errorf("docs/telemetry.md does not document %s", n)
		}
	}
}

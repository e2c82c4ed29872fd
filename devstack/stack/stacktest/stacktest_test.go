package stacktest

import (
	"net/http"
	"slices"
	"testing"

	"github.com/parleyhq/parley/devstack/stack"
)

// TestStartInfraOnly starts the infrastructure the way the end-to-end suite will, from this
// repository, and finds it answering.
func TestStartInfraOnly(t *testing.T) {
	s := Start(t, stack.Options{InfraOnly: true, NoInstall: true})
	resp, err := http.Get(s.MailpitURL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mailpit readyz = %d", resp.StatusCode)
	}
	var checked []string
	for _, c := range stack.Status(t.Context(), s.Options(), false) {
		checked = append(checked, c.Name)
		if c.Err != nil {
			t.Errorf("%s at %s: %v", c.Name, c.Address, c.Err)
		}
	}
	// Everything infra runs, the trace viewer included (Tilt's readiness probe is this status).
	for _, want := range []string{"postgres", "redis", "kafka", "s3", "smtp", "mail UI", "oidc", "traces"} {
		if !slices.Contains(checked, want) {
			t.Errorf("status checks %v; want %s among them", checked, want)
		}
	}
}

package gateway_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	profilev1 "github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1/profilev1connect"
	"github.com/parleyhq/parley/platform/telemetry"
	"github.com/parleyhq/parley/platform/telemetrytest"

	"github.com/parleyhq/parley/services/gateway/internal/gateway"
)

// TestCallsStartTracesAndAreMeasured: a proxied call gets the gateway's server span, which starts
// the trace (a client's traceparent is not continued), is what the upstream receives as its
// parent, and is named to the client in X-Trace-Id; the call is measured by procedure and code,
// and a method the service does not have is measured as "other".
func TestCallsStartTracesAndAreMeasured(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tel := telemetry.New("gateway", spans)
	e := newEnv(t, func(o *gateway.Options) { o.Telemetry = tel })
	client := profilev1connect.NewProfileServiceClient(http.DefaultClient, e.api)

	const foreign = "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"
	req := connect.NewRequest(&profilev1.GetProfileRequest{})
	req.Header().Set("Authorization", "Bearer "+e.iss.Token(t, "u1"))
	req.Header().Set("Traceparent", foreign)
	res, err := client.GetProfile(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	traceID := res.Header().Get(gateway.HeaderTraceID)
	forwarded := e.profile.last(t).header.Get("Traceparent")
	parts := strings.Split(forwarded, "-")
	if len(parts) != 4 || parts[1] != traceID || traceID == "" {
		t.Fatalf("upstream got traceparent %q, client got X-Trace-Id %q: want the gateway's trace in both", forwarded, traceID)
	}
	if strings.Contains(forwarded, "0123456789abcdef0123456789abcdef") {
		t.Errorf("the client's own trace context reached the service: %q", forwarded)
	}
	var gw tracetest.SpanStub
	for _, s := range spans.GetSpans() {
		if s.SpanKind == trace.SpanKindServer {
			gw = s
		}
	}
	if gw.Name != "parley.profile.v1.ProfileService/GetProfile" || gw.Parent.IsValid() {
		t.Errorf("gateway span %q with parent %v, want the procedure's name and no parent", gw.Name, gw.Parent)
	}
	if gw.SpanContext.SpanID().String() != parts[2] {
		t.Errorf("upstream's parent span %s, want the gateway's %s", parts[2], gw.SpanContext.SpanID())
	}
	e.logs.waitFor(t, func(r map[string]any) bool { return r["msg"] == "request" && r["trace_id"] == traceID })

	if _, err := client.GetProfile(context.Background(), connect.NewRequest(&profilev1.GetProfileRequest{})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("call without a token: %v", err)
	}
	nope := postJSONStatus(t, e.api+"/parley.profile.v1.ProfileService/NoSuchMethod", "Bearer "+e.iss.Token(t, "u1"))
	if nope != http.StatusNotFound && nope != http.StatusNotImplemented {
		t.Fatalf("unknown method: HTTP %d", nope)
	}
	// Without a token the gateway refuses an invented method itself; its name is no label either.
	if got := postJSONStatus(t, e.api+"/parley.profile.v1.ProfileService/Invented"+rand.Text(), ""); got != http.StatusUnauthorized {
		t.Fatalf("invented method without a token: HTTP %d", got)
	}
	for _, c := range []struct {
		procedure, code string
	}{
		{"/parley.profile.v1.ProfileService/GetProfile", "ok"},
		{"/parley.profile.v1.ProfileService/GetProfile", "unauthenticated"},
		{"other", "unknown"},         // the service's bare 404: no such method
		{"other", "unauthenticated"}, // refused here, before the service could say it has no such method
	} {
		if got := telemetrytest.Value(t, tel, telemetry.MetricRPCDuration, map[string]string{"procedure": c.procedure, "code": c.code, "service": "gateway"}); got != 1 {
			t.Errorf("%s{procedure=%s,code=%s} = %v, want 1", telemetry.MetricRPCDuration, c.procedure, c.code, got)
		}
	}
}

// TestRefusalsAreCountedByLimit counts rate-limit refusals under the kind of limit that refused.
func TestRefusalsAreCountedByLimit(t *testing.T) {
	tel := telemetry.New("gateway", nil)
	e := limitedEnv(t, func(o *gateway.Options) { o.Telemetry = tel })
	for range 4 {
		postJSON(t, e.api+"/parley.auth.v1.AuthService/Login", `{"email":"a@example.com","password":"secret"}`,
			http.Header{"X-Forwarded-For": {"203.0.113.9"}})
	}
	if got := telemetrytest.Value(t, tel, telemetry.MetricRateLimited, map[string]string{"limit": "auth"}); got != 1 {
		t.Errorf("%s{limit=auth} = %v after 4 logins against a limit of 3, want 1", telemetry.MetricRateLimited, got)
	}
}

// postJSONStatus posts {} to url with authorization and returns the HTTP status.
func postJSONStatus(t *testing.T, url, authorization string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", authorization)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

package traceview_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/parleyhq/parley/devstack/traceview"
	"github.com/parleyhq/parley/platform/telemetry"
)

// TestReceivesWhatTheServicesExport sends spans the way a service does — the OTLP/HTTP exporter
// its telemetry uses, gzip on — and reads them back as JSON and as pages.
func TestReceivesWhatTheServicesExport(t *testing.T) {
	srv := httptest.NewServer(traceview.New(100))
	defer srv.Close()
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(srv.URL+"/v1/traces"),
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	if err != nil {
		t.Fatal(err)
	}
	tel := telemetry.New("chat", exp) // synchronous: each span is sent as it ends
	ctx, root := tel.Tracer().Start(context.Background(), "request", trace.WithSpanKind(trace.SpanKindServer))
	_, child := tel.Tracer().Start(ctx, "postgres SELECT", trace.WithSpanKind(trace.SpanKindClient))
	child.End()
	root.End()
	traceID := root.SpanContext().TraceID().String()

	var spans []traceview.Span
	getJSON(t, srv.URL+"/api/traces/"+traceID, &spans)
	if len(spans) != 2 || spans[0].Name != "request" || spans[1].Name != "postgres SELECT" {
		t.Fatalf("spans %+v, want the request and then its statement", spans)
	}
	if spans[1].ParentID != spans[0].SpanID || spans[0].Service != "chat" || spans[1].Kind != "client" {
		t.Errorf("spans %+v: want the statement the request's child, service chat", spans)
	}
	var list []traceview.Summary
	getJSON(t, srv.URL+"/api/traces", &list)
	if len(list) != 1 || list[0].TraceID != traceID || list[0].Spans != 2 || list[0].Root != "chat request" {
		t.Errorf("trace list %+v", list)
	}
	for _, page := range []string{"/", "/traces/" + traceID} {
		res, err := http.Get(srv.URL + page)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "request") {
			t.Errorf("%s: %s\n%s", page, res.Status, body)
		}
	}
}

// TestKeepsTheMostRecentSpans drops the oldest spans, and their traces, past its size.
func TestKeepsTheMostRecentSpans(t *testing.T) {
	srv := httptest.NewServer(traceview.New(3))
	defer srv.Close()
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(srv.URL+"/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	tel := telemetry.New("gateway", exp)
	var ids []string
	for range 4 {
		_, span := tel.Tracer().Start(context.Background(), "call", trace.WithSpanKind(trace.SpanKindServer))
		span.End()
		ids = append(ids, span.SpanContext().TraceID().String())
	}
	var list []traceview.Summary
	getJSON(t, srv.URL+"/api/traces", &list)
	if len(list) != 3 || list[0].TraceID != ids[3] || list[2].TraceID != ids[1] {
		t.Errorf("kept %+v, want the last three traces, newest first", list)
	}
	res, err := http.Get(srv.URL + "/api/traces/" + ids[0])
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("the dropped trace: %s, want 404", res.Status)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// Package traceview is the dev stack's trace viewer: an OTLP/HTTP receiver (POST /v1/traces, the
// protobuf encoding the services' exporters send, gzip or not) that keeps the most recent spans
// in memory and shows them — a page listing recent traces (/), one trace as an indented timeline
// (/traces/<id>), and the same as JSON for tests and scripts (/api/traces, /api/traces/<id>).
// For development only: nothing is persisted, nothing is authenticated, everything listens on
// 127.0.0.1.
package traceview

import (
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is one span as the viewer keeps it.
type Span struct {
	TraceID  string            `json:"trace_id"`
	SpanID   string            `json:"span_id"`
	ParentID string            `json:"parent_id,omitempty"`
	Service  string            `json:"service"`
	Name     string            `json:"name"`
	Kind     string            `json:"kind"`
	Start    time.Time         `json:"start"`
	End      time.Time         `json:"end"`
	Error    bool              `json:"error,omitempty"`
	Attrs    map[string]string `json:"attributes,omitempty"`
}

// Duration is how long the span lasted.
func (s Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// Receiver keeps the last MaxSpans spans it was sent.
type Receiver struct {
	max int

	mu    sync.Mutex
	spans []Span         // ring, oldest first once full
	next  int            // where the next span goes once full
	order []string       // trace ids, most recent first seen last
	seen  map[string]int // spans per trace id currently kept
}

// New returns a receiver keeping up to maxSpans spans (the oldest go first).
func New(maxSpans int) *Receiver {
	return &Receiver{max: maxSpans, seen: map[string]int{}}
}

// ServeHTTP routes the receiver's endpoints.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", r.receive)
	mux.HandleFunc("GET /api/traces", r.listJSON)
	mux.HandleFunc("GET /api/traces/{id}", r.traceJSON)
	mux.HandleFunc("GET /traces/{id}", r.tracePage)
	mux.HandleFunc("GET /{$}", r.listPage)
	mux.ServeHTTP(w, req)
}

// maxBody bounds one export request.
const maxBody = 16 << 20

func (r *Receiver) receive(w http.ResponseWriter, req *http.Request) {
	var body io.Reader = http.MaxBytesReader(w, req.Body, maxBody)
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(body)
		if err != nil {
			http.Error(w, "gzip: "+err.Error(), http.StatusBadRequest)
			return
		}
		defer zr.Close()
		body = io.LimitReader(zr, maxBody)
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "" && ct != "application/x-protobuf" {
		http.Error(w, "only OTLP/HTTP protobuf (application/x-protobuf) is accepted", http.StatusUnsupportedMediaType)
		return
	}
	var export collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(data, &export); err != nil {
		http.Error(w, "decode: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.add(spansOf(&export))
	res, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(res)
}

func spansOf(export *collectortrace.ExportTraceServiceRequest) []Span {
	var out []Span
	for _, rs := range export.GetResourceSpans() {
		service := "?"
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := Span{
					TraceID: hex.EncodeToString(s.GetTraceId()),
					SpanID:  hex.EncodeToString(s.GetSpanId()),
					Service: service,
					Name:    s.GetName(),
					Kind:    kindName(s.GetKind()),
					Start:   time.Unix(0, int64(s.GetStartTimeUnixNano())),
					End:     time.Unix(0, int64(s.GetEndTimeUnixNano())),
					Error:   s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR,
					Attrs:   attrs(s.GetAttributes()),
				}
				if len(s.GetParentSpanId()) > 0 {
					sp.ParentID = hex.EncodeToString(s.GetParentSpanId())
				}
				out = append(out, sp)
			}
		}
	}
	return out
}

func kindName(k tracepb.Span_SpanKind) string {
	switch k {
	case tracepb.Span_SPAN_KIND_SERVER:
		return "server"
	case tracepb.Span_SPAN_KIND_CLIENT:
		return "client"
	case tracepb.Span_SPAN_KIND_PRODUCER:
		return "producer"
	case tracepb.Span_SPAN_KIND_CONSUMER:
		return "consumer"
	}
	return "internal"
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	if len(kvs) == 0 {
		return nil
	}
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch x := v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = x.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = strconv.FormatInt(x.IntValue, 10)
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = strconv.FormatBool(x.BoolValue)
		case *commonpb.AnyValue_DoubleValue:
			m[kv.GetKey()] = strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
		default:
			m[kv.GetKey()] = fmt.Sprint(v)
		}
	}
	return m
}

func (r *Receiver) add(spans []Span) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range spans {
		if len(r.spans) == r.max {
			old := r.spans[r.next]
			if r.seen[old.TraceID]--; r.seen[old.TraceID] <= 0 {
				delete(r.seen, old.TraceID)
				if i := slices.Index(r.order, old.TraceID); i >= 0 {
					r.order = slices.Delete(r.order, i, i+1)
				}
			}
			r.spans[r.next] = s
			r.next = (r.next + 1) % r.max
		} else {
			r.spans = append(r.spans, s)
		}
		if r.seen[s.TraceID] == 0 {
			r.order = append(r.order, s.TraceID)
		}
		r.seen[s.TraceID]++
	}
}

// Trace returns the spans of trace id kept, parents before children, siblings by start time.
func (r *Receiver) Trace(id string) []Span {
	r.mu.Lock()
	var spans []Span
	for _, s := range r.spans {
		if s.TraceID == id {
			spans = append(spans, s)
		}
	}
	r.mu.Unlock()
	return treeOrder(spans)
}

// treeOrder sorts spans depth first from the roots (spans whose parent is not kept), each level
// by start time.
func treeOrder(spans []Span) []Span {
	slices.SortFunc(spans, func(a, b Span) int { return a.Start.Compare(b.Start) })
	present := map[string]bool{}
	children := map[string][]Span{}
	for _, s := range spans {
		present[s.SpanID] = true
	}
	var roots []Span
	for _, s := range spans {
		if s.ParentID == "" || !present[s.ParentID] {
			roots = append(roots, s)
		} else {
			children[s.ParentID] = append(children[s.ParentID], s)
		}
	}
	out := make([]Span, 0, len(spans))
	var walk func(s Span)
	walk = func(s Span) {
		out = append(out, s)
		for _, c := range children[s.SpanID] {
			walk(c)
		}
	}
	for _, s := range roots {
		walk(s)
	}
	return out
}

// Summary describes one kept trace.
type Summary struct {
	TraceID  string        `json:"trace_id"`
	Root     string        `json:"root"`
	Services []string      `json:"services"`
	Spans    int           `json:"spans"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`
	Error    bool          `json:"error,omitempty"`
}

// Traces summarises the kept traces, most recent first, at most limit of them.
func (r *Receiver) Traces(limit int) []Summary {
	r.mu.Lock()
	ids := slices.Clone(r.order)
	r.mu.Unlock()
	slices.Reverse(ids)
	if len(ids) > limit {
		ids = ids[:limit]
	}
	out := make([]Summary, 0, len(ids))
	for _, id := range ids {
		spans := r.Trace(id)
		if len(spans) == 0 {
			continue
		}
		sum := Summary{TraceID: id, Root: spans[0].Service + " " + spans[0].Name, Spans: len(spans), Start: spans[0].Start}
		end := spans[0].End
		for _, s := range spans {
			if !slices.Contains(sum.Services, s.Service) {
				sum.Services = append(sum.Services, s.Service)
			}
			if s.Start.Before(sum.Start) {
				sum.Start = s.Start
			}
			if s.End.After(end) {
				end = s.End
			}
			sum.Error = sum.Error || s.Error
		}
		sum.Duration = end.Sub(sum.Start)
		out = append(out, sum)
	}
	return out
}

func (r *Receiver) listJSON(w http.ResponseWriter, req *http.Request) {
	limit := 100
	if n, err := strconv.Atoi(req.URL.Query().Get("limit")); err == nil && n > 0 {
		limit = n
	}
	writeJSON(w, r.Traces(limit))
}

func (r *Receiver) traceJSON(w http.ResponseWriter, req *http.Request) {
	spans := r.Trace(req.PathValue("id"))
	if len(spans) == 0 {
		http.NotFound(w, req)
		return
	}
	writeJSON(w, spans)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

var listTmpl = template.Must(template.New("list").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Parley traces</title>` + style + `</head><body>
<h1>Recent traces</h1>
<p>The dev stack's services send their spans here (OTEL_EXPORTER_OTLP_ENDPOINT); the newest come first. JSON: <a href="/api/traces">/api/traces</a>.</p>
<table><tr><th>started</th><th>root</th><th>services</th><th>spans</th><th>duration</th></tr>
{{range .}}<tr{{if .Error}} class="err"{{end}}><td>{{.Start.Format "15:04:05.000"}}</td><td><a href="/traces/{{.TraceID}}">{{.Root}}</a></td><td>{{range $i, $s := .Services}}{{if $i}}, {{end}}{{$s}}{{end}}</td><td>{{.Spans}}</td><td>{{.Duration}}</td></tr>
{{else}}<tr><td colspan="5">No traces yet: use the app.</td></tr>{{end}}
</table></body></html>`))

var traceTmpl = template.Must(template.New("trace").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Trace {{.ID}}</title>` + style + `</head><body>
<p><a href="/">← recent traces</a> · <a href="/api/traces/{{.ID}}">JSON</a></p>
<h1>Trace {{.ID}}</h1>
<table><tr><th>span</th><th>service</th><th>kind</th><th>starts at</th><th>duration</th><th></th></tr>
{{range .Rows}}<tr{{if .Span.Error}} class="err"{{end}}><td style="padding-left:{{.Indent}}em" title="{{.Attrs}}">{{.Span.Name}}</td><td>{{.Span.Service}}</td><td>{{.Span.Kind}}</td><td>+{{.Offset}}</td><td>{{.Span.Duration}}</td><td><span class="bar" style="margin-left:{{.Left}}%;width:{{.Width}}%"></span></td></tr>
{{end}}</table></body></html>`))

const style = `<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;width:100%}
td,th{padding:.2em .6em;text-align:left;border-bottom:1px solid #eee;white-space:nowrap}.err td{color:#b00}
.bar{display:inline-block;height:.8em;background:#48c;min-width:1px}td:last-child{width:30%}</style>`

func (r *Receiver) listPage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = listTmpl.Execute(w, r.Traces(200))
}

type row struct {
	Span        Span
	Indent      int
	Offset      time.Duration
	Left, Width float64
	Attrs       string
}

func (r *Receiver) tracePage(w http.ResponseWriter, req *http.Request) {
	id := req.PathValue("id")
	spans := r.Trace(id)
	if len(spans) == 0 {
		http.NotFound(w, req)
		return
	}
	start, end := spans[0].Start, spans[0].End
	for _, s := range spans {
		if s.Start.Before(start) {
			start = s.Start
		}
		if s.End.After(end) {
			end = s.End
		}
	}
	total := float64(max(end.Sub(start), 1))
	depth := map[string]int{}
	rows := make([]row, len(spans))
	for i, s := range spans {
		d := 0
		if p, ok := depth[s.ParentID]; ok && s.ParentID != "" {
			d = p + 1
		}
		depth[s.SpanID] = d
		attrs, _ := json.Marshal(s.Attrs)
		rows[i] = row{Span: s, Indent: d * 2, Offset: s.Start.Sub(start),
			Left: 100 * float64(s.Start.Sub(start)) / total, Width: 100 * float64(s.Duration()) / total, Attrs: string(attrs)}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = traceTmpl.Execute(w, struct {
		ID   string
		Rows []row
	}{id, rows})
}

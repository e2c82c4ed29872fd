package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
)

// traceSpan is a span as the dev stack's trace viewer serves it (devstack/traceview).
type traceSpan struct {
	TraceID  string            `json:"trace_id"`
	SpanID   string            `json:"span_id"`
	ParentID string            `json:"parent_id"`
	Service  string            `json:"service"`
	Name     string            `json:"name"`
	Kind     string            `json:"kind"`
	Attrs    map[string]string `json:"attributes"`
}

// testMessageTrace follows one message through the traces the services export to the dev stack's
// viewer: the gateway's call, chat's handler, its statements, the event's publication from the
// outbox, the gateway's fan-out consuming it and the frame's delivery to the recipient's socket
// are one trace, each hop the child of the one before.
func testMessageTrace(t *testing.T) {
	c := newClients()
	alice, bob := signUp(t, c, "tracer"), signUp(t, c, "traced")
	befriend(t, c, alice, bob)
	bobWS := connectWS(t, gatewayURL, bob.token, false)
	eventually(t, "the chat", func() (*chatv1.SendMessageResponse, error) {
		return msgOf(c.chat.SendMessage(context.Background(), withToken(&chatv1.SendMessageRequest{
			To: &chatv1.SendMessageRequest_UserId{UserId: bob.id}, ClientMsgId: uuid.NewString(), Text: "first"}, alice.token)))
	})

	res, err := c.chat.SendMessage(context.Background(), withToken(&chatv1.SendMessageRequest{
		To: &chatv1.SendMessageRequest_UserId{UserId: bob.id}, ClientMsgId: uuid.NewString(), Text: "traced"}, alice.token))
	if err != nil {
		t.Fatal(err)
	}
	traceID := res.Header().Get("X-Trace-Id")
	if traceID == "" {
		t.Fatal("the gateway's answer names no trace (X-Trace-Id): is tracing on in the dev stack?")
	}
	// Not within expect's 5 s: the scenario before (TwoGateways) stops a second gateway, whose
	// leaving rebalances the fan-out's consumer group, and on a busy machine the events wait for
	// that longer than 5 s. This scenario is about the trace, not the latency.
	bobWS.expectWithin(t, 30*time.Second, "message", func(f frame) bool { return f.Num("seq") == res.Msg.GetMessage().GetSeq() })

	const send = "parley.chat.v1.ChatService/SendMessage"
	// Spans arrive as each process's exporter sends its batch (every few seconds).
	spans := eventually(t, "the message's whole trace in the viewer", func() ([]traceSpan, error) {
		spans, err := fetchTrace(traceID)
		if err != nil {
			return nil, err
		}
		for _, want := range []struct{ service, name string }{
			{"gateway", send}, {"chat", send}, {"chat", "parley.chat.v1 publish"},
			{"gateway", "parley.chat.v1 process"}, {"gateway", "websocket deliver"},
		} {
			if find(spans, want.service, want.name, "") == nil {
				return nil, fmt.Errorf("no %s span %q yet", want.service, want.name)
			}
		}
		if redisSpan(spans, "") == nil {
			return nil, errors.New("no gateway Redis span yet")
		}
		return spans, nil
	})

	gw := find(spans, "gateway", send, "")
	if gw.ParentID != "" {
		t.Errorf("the gateway's span has a parent %s: the trace must start at the gateway", gw.ParentID)
	}
	// The gateway's rate limit is a Redis script run inside the call (telemetry.Redis).
	if redisSpan(spans, gw.SpanID) == nil {
		t.Errorf("no Redis span under the gateway's call: %v", spans)
	}
	handler := find(spans, "chat", send, gw.SpanID)
	if handler == nil {
		t.Fatalf("chat's SendMessage span is not the gateway span's child: %v", spans)
	}
	var stmt *traceSpan
	for i := range spans {
		// The send group's one round trip (BEGIN, the chat's lock, the statement, COMMIT).
		if spans[i].Service == "chat" && spans[i].Name == "postgres batch" && descends(spans, &spans[i], handler.SpanID) &&
			strings.Contains(spans[i].Attrs["db.query.text"], "INSERT INTO messages") {
			stmt = &spans[i]
		}
	}
	if stmt == nil {
		t.Errorf("no Postgres span under chat's handler writes the message: %v", spans)
	}
	publish := find(spans, "chat", "parley.chat.v1 publish", handler.SpanID)
	if publish == nil {
		t.Fatalf("the relay's producer span is not the handler's child: %v", spans)
	}
	fanout := find(spans, "gateway", "parley.chat.v1 process", publish.SpanID)
	if fanout == nil {
		t.Fatalf("the fan-out's processing span is not the producer span's child: %v", spans)
	}
	deliver := find(spans, "gateway", "websocket deliver", fanout.SpanID)
	if deliver == nil {
		t.Fatalf("the frame's delivery span is not the fan-out's child: %v", spans)
	}
	if deliver.Attrs["parley.websocket.connections"] == "0" {
		t.Errorf("the frame was delivered to no socket: %v", deliver)
	}
}

// redisSpan returns a Redis command's span of the gateway's (under the span parent, unless "").
func redisSpan(spans []traceSpan, parent string) *traceSpan {
	for i := range spans {
		s := &spans[i]
		if s.Service == "gateway" && s.Attrs["db.system.name"] == "redis" && (parent == "" || descends(spans, s, parent)) {
			return s
		}
	}
	return nil
}

// fetchTrace reads one trace from the dev stack's viewer.
func fetchTrace(id string) ([]traceSpan, error) {
	res, err := http.Get(stk.TracesURL() + "/api/traces/" + id)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("trace %s: %s", id, res.Status)
	}
	var spans []traceSpan
	return spans, json.NewDecoder(res.Body).Decode(&spans)
}

// find returns the span of service called name (whose parent is parent, unless that is "").
func find(spans []traceSpan, service, name, parent string) *traceSpan {
	for i := range spans {
		s := &spans[i]
		if s.Service == service && s.Name == name && (parent == "" || s.ParentID == parent) {
			return s
		}
	}
	return nil
}

// descends reports whether s is a descendant of the span ancestor.
func descends(spans []traceSpan, s *traceSpan, ancestor string) bool {
	for s != nil && s.ParentID != "" {
		if s.ParentID == ancestor {
			return true
		}
		var parent *traceSpan
		for i := range spans {
			if spans[i].SpanID == s.ParentID {
				parent = &spans[i]
			}
		}
		s = parent
	}
	return false
}

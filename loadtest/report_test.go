package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func sampleReport() *Report {
	cpu := func(unit string, units int64, procs ...ProcessCPU) *PhaseCPU {
		c := &PhaseCPU{Unit: unit, Units: units, WallSeconds: 10, MachineCapacitySeconds: 20, MachineBusySeconds: 18.5,
			LoadGenerator: ProcessCPU{Name: "load generator", Found: true, CPUSeconds: 1, MsPerUnit: 0.25}}
		for _, p := range procs {
			p.Found, p.InStackTotal = true, true
			c.Processes = append(c.Processes, p)
			c.StackSeconds += p.CPUSeconds
		}
		c.Processes = append(c.Processes, ProcessCPU{Name: "media", Note: "not found (nothing listens on its port here)"})
		c.StackMsPerUnit = c.StackSeconds * 1000 / float64(units)
		return c
	}
	return &Report{
		ReportVersion:     reportVersion,
		Started:           "2026-11-27T10:00:00Z",
		Finished:          "2026-11-27T10:02:00Z",
		Flags:             config{Phases: allPhases, Pairs: 8, Workers: 16, Codec: "json", DurationText: "10s", IdleConns: 5000, ConnsPerUser: 10, RegisterConc: 4},
		Target:            target{GatewayURL: "http://127.0.0.1:21000", PrivateStack: true, PortBase: 21000, Local: true},
		Machine:           Machine{CPUModel: "Test CPU", CPUs: 2, Kernel: "Linux 6.1", GoVersion: "go1.26", LoadAvgStart: "1.00 2.00 3.00", LoadAvgEnd: "4.00 5.00 6.00", Date: "2026-11-27T10:00:00Z"},
		SynchronousCommit: SyncCommit{Database: "parley_chat", Setting: "off", Source: "command line"},
		PGBaseline: &PGBaseline{Workers: 16, Rows: 154550, RowsPerSecond: 15455, PostgresMsPerRow: 0.074, SynchronousCommit: "off",
			CPU: cpu("row", 154550, ProcessCPU{Name: "postgres", CPUSeconds: 11.4, MsPerUnit: 0.074})},
		GatewayOverhead: &GatewayOverhead{Procedure: "parley.profile.v1.ProfileService/GetProfile", Codec: "json", Workers: 16,
			Direct:  UnaryRun{Calls: 22070, RequestsPerSecond: 4414, Latency: Latency{P50Ms: 3, P99Ms: 14}},
			Gateway: UnaryRun{Calls: 6540, RequestsPerSecond: 1308, Latency: Latency{P50Ms: 11, P99Ms: 28}},
			Ratio:   1308.0 / 4414, GatewayMsPerCall: 0.8},
		ClosedLoop: &MessagePhase{Mode: modeClosed, Pairs: 8, Senders: 16, DurationSeconds: 10, SentPerSecond: 388, DeliveredPerSecond: 375, DeliveredRatio: 1, LagAtEnd: 130,
			Delivery: Delivery{Sent: 3880, Delivered: 3880, Lost: 2, Gaps: 3,
				FramesByType: map[string]int64{"message": 7760, "notification": 3880, "presence": 2}, FramesPerMessage: map[string]float64{"message": 2, "notification": 1, "presence": 2.0 / 3880},
				LastFrameAfterWindow: map[string]float64{"message": 0.01, "notification": 1.84, "presence": -9},
				SendLatency:          Latency{Count: 3880, P50Ms: 30, P90Ms: 50, P99Ms: 90, MaxMs: 120}, EndToEndLatency: Latency{Count: 3880, P50Ms: 1200, P90Ms: 2000, P99Ms: 2200, MaxMs: 2300}},
			CPU: cpu("message", 3880, ProcessCPU{Name: "postgres", CPUSeconds: 5.432, MsPerUnit: 1.4}, ProcessCPU{Name: "gateway", CPUSeconds: 3.88, MsPerUnit: 1.0})},
		OpenLoop: &MessagePhase{Mode: modeOpen, TargetRate: 194, SentPerSecond: 194, DeliveredPerSecond: 193,
			Delivery: Delivery{Sent: 1940, Delivered: 1940, NotDispatched: 3, EndToEndLatency: Latency{Count: 1940, P50Ms: 46, P90Ms: 120, P99Ms: 330, MaxMs: 400}}},
		IdleSockets: &IdleSockets{Requested: 5000, ConnsPerUser: 10, Users: 500,
			Gateway: IdleRun{Opened: 5000, KBPerConnection: 61.7, Runtime: &RuntimeDelta{HeapKBPerConnection: 40, HeapOnlyKBPerConnection: 24, StackKBPerConnection: 16, GoroutinesPerConnection: 3}},
			Bare:    IdleRun{Opened: 5000, KBPerConnection: 24.3, Runtime: &RuntimeDelta{HeapKBPerConnection: 16, HeapOnlyKBPerConnection: 10, StackKBPerConnection: 6, GoroutinesPerConnection: 1}}, Ratio: 61.7 / 24.3},
		Notes: []string{"a note for the reader"},
	}
}

func TestReportText(t *testing.T) {
	var b bytes.Buffer
	writeText(&b, sampleReport())
	out := b.String()
	// Column padding depends on the widest cell; compare with runs of spaces squeezed.
	squeeze := regexp.MustCompile(` +`)
	flat := squeeze.ReplaceAllString(out, " ")
	for _, want := range []string{
		"| what ", "| Parley ", "| baseline (same run) ", "| ratio ",
		"**388 msg/s** sent, 375/s delivered while sending (lag at end 130",
		"raw single-row pgx INSERT on the same Postgres, 16 workers: 15,455 rows/s | 0.025",
		"**2.40 ms** (postgres 1.40, gateway 1.00)", "0.074 ms Postgres CPU per raw row", "| 32.4×",
		"send → frame p50 1200ms, p90 2000ms, p99 2200ms",
		"latency at 194 msg/s (open loop)", "**p50 46ms, p99 330ms**", "not dispatched 3",
		"3,880 sent, 0 send errors, 2 lost, 0 duplicated, 0 order violations, 3 gaps",
		"message 2.00, notification 1.00, presence 2 in all; last frame after sends stopped: notification 1.8s |",
		"**1,308 req/s**, p50 11ms, p99 28ms; gateway adds 0.80 ms CPU per call", "straight to profile: 4,414 req/s", "| 0.296",
		"**61.7 KB per connection** in the gateway", "bare coder/websocket server, same connections: 24.3 KB", "| 2.5×",
		"| 40.0 KB heap + stacks (24.0 + 16.0), 3.00 goroutines per connection", "bare server: 16.0 KB heap + stacks (10.0 + 6.0), 1.00 goroutines per connection", "| 2.5×",
		"CPU per process — messages, closed loop (3,880 messages, 10.0 s wall)",
		"| gateway         | 3.88  | 1.000", "| media           | —", "not found (nothing listens on its port here)",
		"| **stack total** | 9.31", "| machine, busy   | 18.50",
		"synchronous_commit seen by a new connection to parley_chat: off (source: command line, database parley_chat)",
		"load average (1 5 15 min): 1.00 2.00 3.00 at the start, 4.00 5.00 6.00 at the end",
		"PARLEY_PORT_BASE=21000", "- a note for the reader",
	} {
		if !strings.Contains(flat, squeeze.ReplaceAllString(want, " ")) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("report:\n%s", out)
	}
	// Every row of a table is as wide as its header, in characters.
	lines := strings.Split(out, "\n")
	for i := 1; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "|") && strings.HasPrefix(lines[i-1], "|") &&
			utf8.RuneCountInString(lines[i]) != utf8.RuneCountInString(lines[i-1]) {
			t.Errorf("misaligned table rows:\n%s\n%s", lines[i-1], lines[i])
		}
	}
}

func TestReportJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "report.json")
	if err := writeJSON(path, sampleReport()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	get := func(path string) any {
		var v any = m
		for _, k := range strings.Split(path, ".") {
			obj, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = obj[k]
		}
		return v
	}
	for path, want := range map[string]any{
		"report_version":                                       float64(1),
		"synchronous_commit.setting":                           "off",
		"synchronous_commit.source":                            "command line",
		"closed_loop.mode":                                     "closed-loop",
		"closed_loop.sent_per_second":                          float64(388),
		"closed_loop.delivered_per_second":                     float64(375),
		"closed_loop.lag_at_end":                               float64(130),
		"closed_loop.delivery.lost":                            float64(2),
		"closed_loop.delivery.gaps":                            float64(3),
		"closed_loop.delivery.e2e_latency.p99_ms":              float64(2200),
		"closed_loop.delivery.frames_per_message.notification": float64(1),
		"closed_loop.cpu.unit":                                 "message",
		"open_loop.target_rate":                                float64(194),
		"open_loop.delivery.not_dispatched":                    float64(3),
		"pg_baseline.rows_per_second":                          float64(15455),
		"pg_baseline.postgres_cpu_ms_per_row":                  0.074,
		"gateway_overhead.gateway.requests_per_second":         float64(1308),
		"gateway_overhead.gateway_cpu_ms_per_call":             0.8,
		"idle_sockets.gateway.kb_per_connection":               61.7,
		"idle_sockets.bare_server.kb_per_connection":           24.3,
		"machine.cpus":                                         float64(2),
		"flags.pairs":                                          float64(8),
		"target.private_stack":                                 true,
	} {
		if got := get(path); got != want {
			t.Errorf("%s = %v (%T), want %v", path, got, got, want)
		}
	}
	if got, ok := get("closed_loop.cpu.stack_cpu_ms_per_unit").(float64); !ok || math.Abs(got-2.4) > 1e-9 {
		t.Errorf("closed_loop.cpu.stack_cpu_ms_per_unit = %v, want 2.4", got)
	}
}

func TestThousandsAndMs(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 13412: "13,412", 1234567: "1,234,567", -1500: "-1,500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
	if got := fmtMs(4.25); got != "4.2ms" && got != "4.3ms" {
		t.Errorf("fmtMs(4.25) = %q", got)
	}
	if got := fmtMs(21.4); got != "21ms" {
		t.Errorf("fmtMs(21.4) = %q", got)
	}
}

package main

// The report: a table for people (markdown, so it pastes into docs/performance.md), and JSON
// with everything for programs. The JSON field names are stable; README.md lists them.

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// reportVersion changes when a JSON field changes meaning or is removed.
const reportVersion = 1

// Report is everything one run measured.
type Report struct {
	ReportVersion int     `json:"report_version"`
	Started       string  `json:"started"`
	Finished      string  `json:"finished"`
	Interrupted   bool    `json:"interrupted"`
	Flags         config  `json:"flags"`
	Target        target  `json:"target"`
	Machine       Machine `json:"machine"`
	// SynchronousCommit is the setting a new connection to parley_chat (the message path's
	// database) runs with.
	SynchronousCommit SyncCommit       `json:"synchronous_commit"`
	Setup             *Setup           `json:"setup,omitempty"`
	PGBaseline        *PGBaseline      `json:"pg_baseline,omitempty"`
	GatewayOverhead   *GatewayOverhead `json:"gateway_overhead,omitempty"`
	ClosedLoop        *MessagePhase    `json:"closed_loop,omitempty"`
	OpenLoop          *MessagePhase    `json:"open_loop,omitempty"`
	IdleSockets       *IdleSockets     `json:"idle_sockets,omitempty"`
	// StackRestCores is the stack's CPU use at rest (cores), measured after setup; message
	// phases drain until the stack is back near it.
	StackRestCores float64  `json:"stack_rest_cpu_cores"`
	StackLog       string   `json:"stack_log,omitempty"`
	Notes          []string `json:"notes,omitempty"`
}

// writeJSON writes the report to path, creating its directory.
func writeJSON(path string, rep *Report) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// --- text -------------------------------------------------------------------------------------

// mdTable writes a markdown table with padded columns.
func mdTable(w io.Writer, header []string, rows [][]string) {
	// Widths in characters, not bytes: the cells hold "→", "—" and "×".
	width := make([]int, len(header))
	for i, h := range header {
		width[i] = utf8.RuneCountInString(h)
	}
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range cells {
			b.WriteString(" " + c + strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)) + " |")
		}
		fmt.Fprintln(w, b.String())
	}
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
}

func num(v float64) string {
	switch {
	case v >= 100:
		return thousands(int64(v + 0.5))
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// cpuMs formats milliseconds of CPU with enough digits for small figures.
func cpuMs(v float64) string {
	if v < 0.1 {
		return strconv.FormatFloat(v, 'f', 3, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
}

func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "—"
	}
	return strconv.FormatFloat(a/b, 'f', 3, 64)
}

func times(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "—"
	}
	return strconv.FormatFloat(a/b, 'f', 1, 64) + "×"
}

func latencyText(l Latency) string {
	if l.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s", fmtMs(l.P50Ms), fmtMs(l.P90Ms), fmtMs(l.P99Ms), fmtMs(l.MaxMs))
}

// cpuBreakdown lists the stack's biggest CPU users per unit: "postgres 1.40, gateway 1.00, …".
func cpuBreakdown(c *PhaseCPU) string {
	if c == nil {
		return ""
	}
	ps := slices.Clone(c.Processes)
	slices.SortStableFunc(ps, func(a, b ProcessCPU) int {
		switch {
		case a.MsPerUnit > b.MsPerUnit:
			return -1
		case a.MsPerUnit < b.MsPerUnit:
			return 1
		}
		return 0
	})
	var parts []string
	for _, p := range ps {
		if p.Found && p.InStackTotal && p.MsPerUnit >= 0.005 {
			parts = append(parts, fmt.Sprintf("%s %.2f", p.Name, p.MsPerUnit))
		}
	}
	return strings.Join(parts, ", ")
}

// summaryRows are the figures beside their baselines, a section of rows for each phase.
func summaryRows(rep *Report) [][]string {
	pg := measuredBaseline(rep.PGBaseline)
	rows := closedLoopRows(rep.ClosedLoop, pg, baselineText(rep.PGBaseline))
	rows = append(rows, openLoopRows(rep.OpenLoop)...)
	for _, ph := range []*MessagePhase{rep.ClosedLoop, rep.OpenLoop} {
		rows = append(rows, deliveryRows(ph)...)
	}
	rows = append(rows, gatewayRows(rep.GatewayOverhead)...)
	rows = append(rows, idleRows(rep.IdleSockets)...)
	if s := rep.Setup; s != nil && s.Users > 0 {
		rows = append(rows, []string{"registration (argon2id), through the gateway",
			fmt.Sprintf("%s users at %.1f/s (%d at a time)", thousands(int64(s.Users)), s.RegistersPerSecond, rep.Flags.RegisterConc), "—", "—"})
	}
	return rows
}

// measuredBaseline is pg when it has figures to compare with, else nil.
func measuredBaseline(pg *PGBaseline) *PGBaseline {
	if pg != nil && pg.Skipped == "" && pg.Rows > 0 {
		return pg
	}
	return nil
}

// baselineText is the Postgres baseline's cell: its rate, why it was not measured, or a dash.
func baselineText(pg *PGBaseline) string {
	switch {
	case measuredBaseline(pg) != nil:
		return fmt.Sprintf("raw single-row pgx INSERT on the same Postgres, %d workers: %s rows/s", pg.Workers, num(pg.RowsPerSecond))
	case pg != nil && pg.Skipped != "":
		return "not measured: " + pg.Skipped
	}
	return "—"
}

// closedLoopRows: the rate, the CPU per message and the latency at that rate, each beside the
// Postgres baseline pg (nil when it was not measured).
func closedLoopRows(c *MessagePhase, pg *PGBaseline, pgText string) [][]string {
	if c == nil || c.Skipped != "" {
		return nil
	}
	var baseRate, baseMs float64
	baseCPU, insert := "—", "—"
	if pg != nil {
		baseRate, baseMs = pg.RowsPerSecond, pg.PostgresMsPerRow
		baseCPU = fmt.Sprintf("%s Postgres CPU per raw row", cpuMs(baseMs))
		insert = "INSERT " + latencyText(pg.InsertLatency)
	}
	rows := [][]string{{
		fmt.Sprintf("1:1 message, SendMessage via gateway → recipient's WebSocket, closed loop, %d pairs, %d senders", c.Pairs, c.Senders),
		fmt.Sprintf("**%s msg/s** sent, %s/s delivered while sending (lag at end %s; delivered/sent after drain %.3f)",
			num(c.SentPerSecond), num(c.DeliveredPerSecond), thousands(c.LagAtEnd), c.DeliveredRatio),
		pgText, ratio(c.SentPerSecond, baseRate),
	}}
	if c.CPU != nil {
		rows = append(rows, []string{
			"CPU per message, summed over every process of the stack",
			fmt.Sprintf("**%s** (%s)", cpuMs(c.CPU.StackMsPerUnit), cpuBreakdown(c.CPU)),
			baseCPU, times(c.CPU.StackMsPerUnit, baseMs),
		})
	}
	d := c.Delivery
	return append(rows, []string{
		"latency at max rate (closed loop)",
		fmt.Sprintf("send %s; send → frame %s", latencyText(d.SendLatency), latencyText(d.EndToEndLatency)),
		insert, "—",
	})
}

// openLoopRows: the latency at the fixed rate.
func openLoopRows(o *MessagePhase) [][]string {
	if o == nil || o.Skipped != "" {
		return nil
	}
	d := o.Delivery
	return [][]string{{
		fmt.Sprintf("latency at %s msg/s (open loop), send → frame", num(o.TargetRate)),
		fmt.Sprintf("**p50 %s, p99 %s** (p90 %s, max %s); send p99 %s; %s msg/s sent, %s/s delivered; not dispatched %d",
			fmtMs(d.EndToEndLatency.P50Ms), fmtMs(d.EndToEndLatency.P99Ms), fmtMs(d.EndToEndLatency.P90Ms), fmtMs(d.EndToEndLatency.MaxMs),
			fmtMs(d.SendLatency.P99Ms), num(o.SentPerSecond), num(o.DeliveredPerSecond), d.NotDispatched),
		"—", "—",
	}}
}

// deliveryRows: what a message phase delivered, against the guarantees, and the frames it took.
func deliveryRows(ph *MessagePhase) [][]string {
	if ph == nil || ph.Skipped != "" {
		return nil
	}
	d := ph.Delivery
	errs := int64(0)
	for _, n := range d.SendErrors {
		errs += n
	}
	return [][]string{
		{
			"delivery, " + ph.Mode,
			fmt.Sprintf("%s sent, %d send errors, %d lost, %d duplicated, %d order violations, %d gaps, %d sender echoes missing",
				thousands(d.Sent), errs, d.Lost, d.Duplicated, d.OrderViolations, d.Gaps, d.SenderEchoMissing),
			"0 lost, 0 duplicated, in order, gap-free", "—",
		},
		{"frames per message, " + ph.Mode, framesText(d.FramesByType, d.FramesPerMessage) + trailingText(d.LastFrameAfterWindow), "—", "—"},
	}
}

// gatewayRows: a unary call through the gateway beside the same call straight to the service.
func gatewayRows(g *GatewayOverhead) [][]string {
	switch {
	case g == nil:
		return nil
	case g.Skipped != "":
		return [][]string{{"unary call through the gateway", "not measured: " + g.Skipped, "—", "—"}}
	}
	gw := "not measured: " + g.Gateway.Skipped
	if g.Gateway.Skipped == "" {
		gw = fmt.Sprintf("**%s req/s**, p50 %s, p99 %s; gateway adds %s CPU per call",
			num(g.Gateway.RequestsPerSecond), fmtMs(g.Gateway.Latency.P50Ms), fmtMs(g.Gateway.Latency.P99Ms), cpuMs(g.GatewayMsPerCall))
	}
	direct := "not measured: " + g.Direct.Skipped
	if g.Direct.Skipped == "" {
		direct = fmt.Sprintf("the same call straight to profile: %s req/s, p50 %s, p99 %s",
			num(g.Direct.RequestsPerSecond), fmtMs(g.Direct.Latency.P50Ms), fmtMs(g.Direct.Latency.P99Ms))
	}
	return [][]string{{
		fmt.Sprintf("unary call through the gateway (GetProfile, %d workers, %s)", g.Workers, g.Codec),
		gw, direct, ratio(g.Gateway.RequestsPerSecond, g.Direct.RequestsPerSecond),
	}}
}

// idleRows: the memory idle WebSockets hold in the gateway beside a bare server's, as the OS
// counts it and, when both served /debug/pprof, as the Go runtime does.
func idleRows(is *IdleSockets) [][]string {
	if is == nil {
		return nil
	}
	what := fmt.Sprintf("idle authenticated WebSockets, %s", thousands(int64(is.Requested)))
	if is.Skipped != "" {
		return [][]string{{what, "not measured: " + is.Skipped, "—", "—"}}
	}
	gw := "not measured: " + is.Gateway.Skipped
	if is.Gateway.Skipped == "" {
		gw = fmt.Sprintf("**%.1f KB per connection** in the gateway (%s open, %d failed%s)",
			is.Gateway.KBPerConnection, thousands(int64(is.Gateway.Opened)), is.Gateway.Failed, fileLimitText(is.Gateway))
	}
	bare := "not measured: " + is.Bare.Skipped
	if is.Bare.Skipped == "" {
		bare = fmt.Sprintf("bare coder/websocket server, same connections: %.1f KB (%s open%s)",
			is.Bare.KBPerConnection, thousands(int64(is.Bare.Opened)), fileLimitText(is.Bare))
	}
	rows := [][]string{{what, gw, bare, times(is.Gateway.KBPerConnection, is.Bare.KBPerConnection)}}
	g, b := is.Gateway.Runtime, is.Bare.Runtime
	if g == nil && b == nil {
		return rows
	}
	ratioText := "—"
	if g != nil && b != nil {
		ratioText = times(g.HeapKBPerConnection, b.HeapKBPerConnection)
	}
	return append(rows, []string{"the same sockets, Go runtime after a GC (/debug/pprof)", runtimeText(g, ""), runtimeText(b, "bare server: "), ratioText})
}

// runtimeText is one side's Go runtime figures per connection, after who.
func runtimeText(r *RuntimeDelta, who string) string {
	if r == nil {
		return "—"
	}
	return fmt.Sprintf("%s%.1f KB heap + stacks (%.1f + %.1f), %.2f goroutines per connection",
		who, r.HeapKBPerConnection, r.HeapOnlyKBPerConnection, r.StackKBPerConnection, r.GoroutinesPerConnection)
}

func fileLimitText(r IdleRun) string {
	if r.StoppedByFileLimit {
		return "; STOPPED BY THE FILE LIMIT"
	}
	return ""
}

// trailingText says how long after sends stopped the last frame of each type came, for the
// types that trailed (came after sends stopped).
func trailingText(m map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] >= 0.05 {
			parts = append(parts, fmt.Sprintf("%s %.1fs", k, m[k]))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; last frame after sends stopped: " + strings.Join(parts, ", ")
}

// framesText lists frames per message by type; a type too rare for two decimals shows its count.
func framesText(counts map[string]int64, per map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(per)) {
		if per[k] < 0.005 {
			parts = append(parts, fmt.Sprintf("%s %d in all", k, counts[k]))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.2f", k, per[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// cpuTable writes one phase's CPU per process.
func cpuTable(w io.Writer, title string, c *PhaseCPU) {
	if c == nil {
		return
	}
	fmt.Fprintf(w, "\nCPU per process — %s (%s %ss, %.1f s wall)\n\n", title, thousands(c.Units), c.Unit, c.WallSeconds)
	unit := "ms per " + c.Unit
	var rows [][]string
	for _, p := range c.Processes {
		if !p.Found {
			rows = append(rows, []string{p.Name, "—", "—", p.Note})
			continue
		}
		note := p.Note
		if p.Processes > 1 {
			note = strings.TrimSpace(fmt.Sprintf("%d processes %s", p.Processes, note))
		}
		rows = append(rows, []string{p.Name, fmt.Sprintf("%.2f", p.CPUSeconds), fmt.Sprintf("%.3f", p.MsPerUnit), note})
	}
	rows = append(rows,
		[]string{"**stack total**", fmt.Sprintf("%.2f", c.StackSeconds), fmt.Sprintf("**%.3f**", c.StackMsPerUnit), ""},
		[]string{"load generator", fmt.Sprintf("%.2f", c.LoadGenerator.CPUSeconds), fmt.Sprintf("%.3f", c.LoadGenerator.MsPerUnit), "not in the stack total"},
		[]string{"machine, busy", fmt.Sprintf("%.2f", c.MachineBusySeconds), "", fmt.Sprintf("of %.1f CPU-seconds (%d CPUs): everything on the machine, from /proc/stat", c.MachineCapacitySeconds, numCPU())},
	)
	mdTable(w, []string{"process", "CPU s", unit, "note"}, rows)
}

// profilesText prints the top of what -profile collected.
func profilesText(w io.Writer, p *Profiles) {
	if p == nil {
		return
	}
	fmt.Fprintf(w, "\nProfiles (closed loop)\n\n")
	for _, pr := range p.Pprof {
		if pr.Error != "" {
			fmt.Fprintf(w, "- pprof %s: %s\n", pr.Service, pr.Error)
		} else {
			fmt.Fprintf(w, "- pprof %s: %s (%d bytes; go tool pprof -top %s)\n", pr.Service, pr.File, pr.Bytes, pr.File)
		}
	}
	topTable(w, "pg_stat_statements", p.PGSkipped, "pg_stat_statements, top 10 by total time",
		[]string{"database", "total ms", "calls", "per msg", "mean ms", "query"}, p.PGStatements,
		func(s PGStatement) []string {
			q := s.Query
			if len(q) > 90 {
				q = q[:87] + "..."
			}
			return []string{s.Database, fmt.Sprintf("%.0f", s.TotalMs), thousands(s.Calls), fmt.Sprintf("%.2f", s.CallsPerMessage), fmt.Sprintf("%.3f", s.MeanMs), "`" + q + "`"}
		})
	topTable(w, "redis commandstats", p.RedisSkipped, "Redis INFO commandstats, top 10 by time",
		[]string{"command", "usec", "calls", "per msg", "usec/call"}, p.RedisCommands,
		func(c RedisCommand) []string {
			return []string{c.Command, thousands(c.Usec), thousands(c.Calls), fmt.Sprintf("%.2f", c.CallsPerMessage), fmt.Sprintf("%.2f", c.UsecPerCall)}
		})
}

// topTable prints one of -profile's rankings: a line saying why it was skipped, and the first 10
// of items (already sorted, most first) as a table under title.
func topTable[T any](w io.Writer, name, skipped, title string, header []string, items []T, row func(T) []string) {
	if skipped != "" {
		fmt.Fprintf(w, "- %s: skipped: %s\n", name, skipped)
	}
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s\n\n", title)
	var rows [][]string
	for _, it := range items[:min(10, len(items))] {
		rows = append(rows, row(it))
	}
	mdTable(w, header, rows)
}

// writeText prints the whole report for a person.
func writeText(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "\nParley load test, %s — %d CPUs (%s)\n\n", rep.Machine.Date, rep.Machine.CPUs, rep.Machine.CPUModel)
	mdTable(w, []string{"what", "Parley", "baseline (same run)", "ratio"}, summaryRows(rep))

	if pg := rep.PGBaseline; pg != nil {
		cpuTable(w, "raw INSERT baseline", pg.CPU)
	}
	if g := rep.GatewayOverhead; g != nil {
		cpuTable(w, "GetProfile straight to profile", g.Direct.CPU)
		cpuTable(w, "GetProfile through the gateway", g.Gateway.CPU)
	}
	if c := rep.ClosedLoop; c != nil {
		cpuTable(w, "messages, closed loop", c.CPU)
	}
	if o := rep.OpenLoop; o != nil {
		cpuTable(w, fmt.Sprintf("messages, open loop at %s/s", num(o.TargetRate)), o.CPU)
	}
	if is := rep.IdleSockets; is != nil {
		cpuTable(w, "opening the idle WebSockets on the gateway (and settling)", is.Gateway.CPU)
	}
	if c := rep.ClosedLoop; c != nil {
		profilesText(w, c.Profiles)
	}

	m := rep.Machine
	fmt.Fprintf(w, "\nMachine and settings\n\n")
	fmt.Fprintf(w, "- CPU: %s, %d CPUs; kernel %s; %s\n", m.CPUModel, m.CPUs, m.Kernel, m.GoVersion)
	fmt.Fprintf(w, "- load average (1 5 15 min): %s at the start, %s at the end\n", m.LoadAvgStart, m.LoadAvgEnd)
	fmt.Fprintf(w, "- synchronous_commit seen by a new connection to parley_chat: %s\n", rep.SynchronousCommit)
	if pg := rep.PGBaseline; pg != nil && pg.SynchronousCommit != "" {
		fmt.Fprintf(w, "- synchronous_commit of the INSERT baseline's connections: %s\n", pg.SynchronousCommit)
	}
	t := rep.Target
	if t.PrivateStack {
		fmt.Fprintf(w, "- target: a private dev stack at PARLEY_PORT_BASE=%d (gateway %s), started fresh for this run; its log: %s\n", t.PortBase, t.GatewayURL, rep.StackLog)
	} else {
		fmt.Fprintf(w, "- target: %s\n", t.GatewayURL)
	}
	if t.Local {
		fmt.Fprintf(w, "- the stack's CPU at rest, after setup: %.2f cores (message phases drain until it is back near that)\n", rep.StackRestCores)
	}
	fmt.Fprintf(w, "- open files allowed (RLIMIT_NOFILE): %d\n", m.OpenFileLimit)
	fmt.Fprintf(w, "- flags: %s\n", flagsText(rep.Flags))
	fmt.Fprintf(w, "- date: %s (finished %s)\n", rep.Started, rep.Finished)
	if rep.Interrupted {
		fmt.Fprintf(w, "- INTERRUPTED: the figures cover what ran before Ctrl-C\n")
	}
	if len(rep.Notes) > 0 {
		fmt.Fprintf(w, "\nNotes\n\n")
		for _, n := range rep.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

// flagsText is the effective settings, in flag form.
func flagsText(c config) string {
	parts := []string{
		"-phases " + strings.Join(c.Phases, ","),
		"-duration " + c.DurationText,
		"-baseline-duration " + c.BaselineDurationText,
		"-drain " + c.DrainText,
		fmt.Sprintf("-pairs %d", c.Pairs),
		fmt.Sprintf("-workers %d", c.Workers),
		"-codec " + c.Codec,
		fmt.Sprintf("-idle-conns %d", c.IdleConns),
		fmt.Sprintf("-conns-per-user %d", c.ConnsPerUser),
		"-settle " + c.SettleText,
	}
	if c.Rate > 0 {
		parts = append(parts, fmt.Sprintf("-rate %g", c.Rate))
	}
	if c.Gateway != "" {
		parts = append(parts, "-gateway "+c.Gateway)
	} else {
		parts = append(parts, "-synchronous-commit "+c.SynchronousCommit)
	}
	for _, e := range c.StackEnv {
		parts = append(parts, "-stack-env "+e)
	}
	if c.Profile {
		parts = append(parts, "-profile")
	}
	return strings.Join(parts, " ")
}

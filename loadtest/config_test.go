package main

import (
	"io"
	"slices"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{"-phases", "idle, closed,open,closed", "-pairs", "2", "-duration", "2s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// Always in run order (the open loop's default rate comes from the closed loop), no repeats.
	if !slices.Equal(c.Phases, []string{phaseClosed, phaseOpen, phaseIdle}) || c.Pairs != 2 || c.DurationText != "2s" {
		t.Fatalf("config = %+v", c)
	}
	for _, bad := range [][]string{
		{"-phases", "closed,bogus"},
		{"-codec", "xml"},
		{"-pairs", "0"},
		{"-duration", "100ms"},
		{"stray"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
	var usage strings.Builder
	if _, err := parseFlags([]string{"-h"}, &usage); err == nil || !strings.Contains(usage.String(), "-idle-conns") {
		t.Errorf("-h: %v, usage %q", err, usage.String())
	}
}

func TestDeploymentTarget(t *testing.T) {
	std, err := deploymentTarget(config{Gateway: "http://127.0.0.1:8080", AdminOffset: -1})
	if err != nil {
		t.Fatal(err)
	}
	if std.ProfileURL != "http://127.0.0.1:8082" || std.PostgresURL != "postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable" ||
		std.RedisURL != "redis://127.0.0.1:6380" || std.KafkaAddr != "127.0.0.1:9092" || std.ServicePorts["chat"] != 8084 ||
		std.AdminPorts["chat"] != 9084 || !std.Local {
		t.Errorf("make up layout: %+v", std)
	}
	moved, err := deploymentTarget(config{Gateway: "http://localhost:21000/", AdminOffset: -1, RedisURL: "redis://10.0.0.5:6379"})
	if err != nil {
		t.Fatal(err)
	}
	if moved.GatewayURL != "http://localhost:21000" || moved.ProfileURL != "http://127.0.0.1:21002" || moved.KafkaAddr != "127.0.0.1:21022" ||
		moved.RedisURL != "redis://10.0.0.5:6379" || moved.AdminPorts["gateway"] != 21030 || moved.AdminPorts["media"] != 21036 {
		t.Errorf("PARLEY_PORT_BASE layout: %+v", moved)
	}
	ws := moved.processWants()
	if i := slices.IndexFunc(ws, func(w procWant) bool { return w.Name == "redis" }); ws[i].Port != 0 {
		t.Errorf("a remote Redis must not be looked for on this machine: %+v", ws[i])
	}
	if none, _ := deploymentTarget(config{Gateway: "http://127.0.0.1:8080", AdminOffset: 0}); len(none.AdminPorts) != 0 {
		t.Errorf("-admin-offset 0 still names admin ports: %v", none.AdminPorts)
	}
	remote, err := deploymentTarget(config{Gateway: "https://parley.example", PostgresURL: "postgres://db.example/postgres"})
	if err != nil {
		t.Fatal(err)
	}
	if remote.Local || remote.ProfileURL != "" || remote.PostgresURL != "postgres://db.example/postgres" {
		t.Errorf("remote: %+v", remote)
	}
	for _, w := range remote.processWants() {
		if w.Port != 0 {
			t.Errorf("remote deployment: %s looked for on port %d here", w.Name, w.Port)
		}
	}
	if _, err := deploymentTarget(config{Gateway: "127.0.0.1:8080"}); err == nil {
		t.Error("a gateway without a scheme was accepted")
	}
}

func TestTailBuffer(t *testing.T) {
	tb := &tailBuffer{max: 2}
	_, _ = io.WriteString(tb, "one\ntwo\nthr")
	_, _ = io.WriteString(tb, "ee\nfour")
	if got := tb.String(); got != "  two\n  three\n  four" {
		t.Fatalf("tail = %q", got)
	}
}

func TestWSURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":   "ws://127.0.0.1:8080/ws",
		"https://parley.example/": "wss://parley.example/ws",
	} {
		if got := wsURL(in); got != want {
			t.Errorf("wsURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRuntimeProfiles(t *testing.T) {
	heap := "heap profile: 1: 2 [3: 4] @ heap/1048576\n1: 2 [3: 4] @ 0x1\n\n# runtime.MemStats\n# Alloc = 100\n# HeapInuse = 4194304\n# Stack = 655360 / 655360\n# MSpan = 1 / 2\n"
	h, st, err := parseMemStats(heap)
	if err != nil || h != 4194304 || st != 655360 {
		t.Fatalf("parseMemStats = %d, %d, %v", h, st, err)
	}
	if _, _, err := parseMemStats("# Alloc = 1\n"); err == nil {
		t.Fatal("a profile without HeapInuse was accepted")
	}
	n, err := parseGoroutineTotal("goroutine profile: total 2017\n1000 @ 0x1 0x2\n")
	if err != nil || n != 2017 {
		t.Fatalf("parseGoroutineTotal = %d, %v", n, err)
	}
	if _, err := parseGoroutineTotal("<html>"); err == nil {
		t.Fatal("not a goroutine profile, accepted")
	}
}

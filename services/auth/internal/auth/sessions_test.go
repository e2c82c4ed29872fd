package auth

import (
	"context"
	"strings"
	"testing"
)

func TestApproximateNetwork(t *testing.T) {
	for key, want := range map[string]string{
		"203.0.113.77":      "203.0.113.0/24",
		"::ffff:192.0.2.1":  "192.0.2.0/24",
		"2001:db8:1:2::/64": "2001:db8:1::/48",
		"2001:db8:aa:bb::1": "2001:db8:aa::/48",
		"unknown":           "",
		"":                  "",
	} {
		if got := ApproximateNetwork(key); got != want {
			t.Errorf("ApproximateNetwork(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestClientOfKeepsWhatASessionShows(t *testing.T) {
	ua, network := clientOf(context.Background())
	if ua != "" || network != "" {
		t.Fatalf("no client: %q, %q", ua, network)
	}
	ua, network = clientOf(WithClient(context.Background(), Client{UserAgent: "a\xffb" + strings.Repeat("x", 400), Network: "198.51.100.200"}))
	if !strings.HasPrefix(ua, "a\uFFFDb") || len([]rune(ua)) != MaxUserAgentRunes || network != "198.51.100.0/24" {
		t.Fatalf("clientOf = %q (%d runes), %q", ua, len([]rune(ua)), network)
	}
}

package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/parleyhq/parley/services/gateway/internal/gateway"
)

// loginVia calls Login with xff as X-Forwarded-For and a request id to find its access-log line.
func loginVia(t *testing.T, e *env, xff, requestID string) *reply {
	t.Helper()
	res, _ := postJSON(t, e.api+"/parley.auth.v1.AuthService/Login", `{"email":"a@example.com","password":"secret"}`,
		http.Header{"X-Forwarded-For": {xff}, "X-Request-Id": {requestID}})
	return res
}

// TestSpoofedForwardedForFromAnUntrustedPeerIsIgnored: a client that is not a trusted proxy
// cannot choose its rate-limit key, its logged address or what the services are told: with no
// TRUSTED_PROXIES, and with proxies configured that the peer is not among, the peer address is
// the client.
func TestSpoofedForwardedForFromAnUntrustedPeerIsIgnored(t *testing.T) {
	t.Parallel()
	for name, trusted := range map[string][]string{
		"no trusted proxies":            nil,
		"the peer is not a trusted one": {"10.0.0.0/8", "2001:db8::/32"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := limitedEnv(t, func(o *gateway.Options) { o.TrustedProxies = trusted }) // RATE_LIMIT_AUTH = 3
			for i, xff := range []string{"203.0.113.1", "203.0.113.2", "10.1.2.3, 203.0.113.3"} {
				id := "spoof-" + strings.ReplaceAll(name, " ", "-") + "-" + string(rune('a'+i))
				if res := loginVia(t, e, xff, id); res.StatusCode != http.StatusOK {
					t.Fatalf("login %d: %d", i+1, res.StatusCode)
				}
				if got := e.auth.last(t).header.Get("X-Forwarded-For"); got != "127.0.0.1" {
					t.Fatalf("the service was told X-Forwarded-For %q, want only the peer 127.0.0.1", got)
				}
				line := e.logs.waitFor(t, func(r map[string]any) bool { return r["msg"] == "request" && r["request_id"] == id })
				if line["remote"] != "127.0.0.1" {
					t.Fatalf("access log remote = %v, want the peer", line["remote"])
				}
			}
			// Three "different" clients were one peer: its budget is spent whatever it claims next.
			if res := loginVia(t, e, "198.51.100.200", "spoof-last"); res.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("fourth login from the same peer under a new X-Forwarded-For: %d, want 429", res.StatusCode)
			}
		})
	}
}

// TestForwardedForFromATrustedProxyIsHonoured: behind a trusted proxy the client is the nearest
// address of the chain that is not a trusted proxy — not the leftmost one, which the client
// itself may have written — and the chain reaches the services with the proxy appended.
func TestForwardedForFromATrustedProxyIsHonoured(t *testing.T) {
	t.Parallel()
	e := limitedEnv(t, func(o *gateway.Options) { o.TrustedProxies = []string{"127.0.0.0/8", "10.0.0.0/8"} })
	for i, spoofed := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		// The client sent "X-Forwarded-For: <spoofed>"; its proxy appended the client's address
		// (203.0.113.5), then an inner trusted proxy (10.0.0.9) its own.
		chain := spoofed + ", 203.0.113.5, 10.0.0.9"
		id := "trusted-" + string(rune('a'+i))
		if res := loginVia(t, e, chain, id); res.StatusCode != http.StatusOK {
			t.Fatalf("login %d: %d", i+1, res.StatusCode)
		}
		if got := e.auth.last(t).header.Get("X-Forwarded-For"); got != chain+", 127.0.0.1" {
			t.Fatalf("the service was told X-Forwarded-For %q, want %q", got, chain+", 127.0.0.1")
		}
		line := e.logs.waitFor(t, func(r map[string]any) bool { return r["msg"] == "request" && r["request_id"] == id })
		if line["remote"] != "203.0.113.5" {
			t.Fatalf("access log remote = %v, want 203.0.113.5", line["remote"])
		}
	}
	// The budget was 203.0.113.5's, whatever the client wrote in front of it.
	if res := loginVia(t, e, "192.0.2.4, 203.0.113.5", "trusted-d"); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fourth login from 203.0.113.5: %d, want 429", res.StatusCode)
	}
	if res := loginVia(t, e, "203.0.113.6", "trusted-e"); res.StatusCode != http.StatusOK {
		t.Fatalf("another client behind the proxy: %d, want 200", res.StatusCode)
	}
}

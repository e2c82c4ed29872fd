package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/parleyhq/parley/platform/clientnet"
)

// A peer that is not a trusted proxy is the client whatever X-Forwarded-For it sends — the answer
// clientnet gives for the chain with the peer as its nearest hop — and its header is not even
// split: a long one costs no more than none.
func TestClientIPOfAnUntrustedPeerDoesNotReadItsForwardedFor(t *testing.T) {
	trusted, err := clientnet.ParseProxies([]string{"10.0.0.0/8", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	g := &Gateway{trusted: trusted}
	long := strings.Repeat("198.51.100.1, 10.0.0.1, ", 2000) + "nonsense, 10.0.0.2"
	for _, c := range []struct{ remote, want string }{
		{"203.0.113.9:4711", "203.0.113.9"},
		{"[::ffff:203.0.113.9]:4711", "203.0.113.9"},
		{"[2001:db9::5]:4711", "2001:db9::5"},
	} {
		bare := httptest.NewRequest(http.MethodGet, "/", nil)
		bare.RemoteAddr = c.remote
		spoofed := bare.Clone(t.Context())
		spoofed.Header.Set("X-Forwarded-For", long)

		peer := c.remote[:strings.LastIndex(c.remote, ":")]
		viaChain, ok := trusted.Client(append(clientnet.ForwardedFor(spoofed.Header), strings.Trim(peer, "[]")))
		if !ok || viaChain != c.want {
			t.Fatalf("clientnet says %q, %v for %s; the test expects %q", viaChain, ok, c.remote, c.want)
		}
		if got := g.clientIP(spoofed); got != c.want {
			t.Errorf("clientIP(%s with a long X-Forwarded-For) = %q, want %q", c.remote, got, c.want)
		}
		if got := g.clientIP(bare); got != c.want {
			t.Errorf("clientIP(%s) = %q, want %q", c.remote, got, c.want)
		}
		without := testing.AllocsPerRun(20, func() { g.clientIP(bare) })
		with := testing.AllocsPerRun(20, func() { g.clientIP(spoofed) })
		if with != without {
			t.Errorf("%s: %v allocations with a long X-Forwarded-For, %v without: the header was read", c.remote, with, without)
		}
	}
}

// A trusted proxy's chain is walked from the hop before it, and the proxy itself is the client
// when the chain names none or cannot be believed.
func TestClientIPOfATrustedPeer(t *testing.T) {
	trusted, err := clientnet.ParseProxies([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	g := &Gateway{trusted: trusted}
	for _, c := range []struct{ xff, want string }{
		{"6.6.6.6, 198.51.100.7, 10.0.0.9", "198.51.100.7"},
		{"10.0.0.1, 10.0.0.2", "10.0.0.1"},
		{"", "10.0.0.5"},
		{"198.51.100.7, nonsense", "10.0.0.5"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "10.0.0.5:4711"
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := g.clientIP(r); got != c.want {
			t.Errorf("clientIP(X-Forwarded-For %q from a trusted proxy) = %q, want %q", c.xff, got, c.want)
		}
	}
}

package authrpc_test

import (
	"net/http"
	"testing"

	"github.com/parleyhq/parley/platform/clientnet"

	"github.com/parleyhq/parley/services/auth/internal/authrpc"
)

func TestClientKey(t *testing.T) {
	trusted, err := clientnet.ParseProxies([]string{"10.0.0.0/8", "fd00::1"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		xff     []string
		peer    string
		trusted clientnet.Proxies
		want    string
	}{
		{name: "no header: the TCP peer", peer: "192.0.2.1:5555", want: "192.0.2.1"},
		{name: "no header: IPv6 peer by /64", peer: "[2001:db8:1:2:3:4:5:6]:443", want: "2001:db8:1:2::/64"},
		{name: "the gateway's hop is the last one", xff: []string{"198.51.100.7"}, peer: "10.1.2.3:80", want: "198.51.100.7"},
		// A client's own X-Forwarded-For is dropped by the gateway unless it came through a trusted
		// proxy; even if one got through, the gateway appends the real peer, and that is what counts.
		{name: "spoofed hops before the last are ignored", xff: []string{"1.2.3.4, 5.6.7.8", "198.51.100.7"}, want: "198.51.100.7"},
		{name: "IPv6 by /64", xff: []string{"2001:db8:aa:bb:1:2:3:4"}, want: "2001:db8:aa:bb::/64"},
		{name: "IPv4-mapped IPv6 is IPv4", xff: []string{"::ffff:198.51.100.7"}, want: "198.51.100.7"},
		{name: "trusted proxies are skipped from the right", xff: []string{"6.6.6.6, 198.51.100.7, 10.0.0.9"}, trusted: trusted, want: "198.51.100.7"},
		{name: "trusted IPv6 proxy", xff: []string{"198.51.100.7, fd00::1"}, trusted: trusted, want: "198.51.100.7"},
		{name: "untrusted proxy is not skipped", xff: []string{"198.51.100.7, 10.0.0.9"}, want: "10.0.0.9"},
		{name: "unparsable hop", xff: []string{"198.51.100.7, nonsense"}, want: "unknown"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range c.xff {
				h.Add("X-Forwarded-For", v)
			}
			if got := authrpc.ClientKey(h, c.peer, c.trusted); got != c.want {
				t.Fatalf("ClientKey(%q, %q) = %q; want %q", c.xff, c.peer, got, c.want)
			}
		})
	}
}

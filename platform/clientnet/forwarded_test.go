package clientnet_test

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/parleyhq/parley/platform/clientnet"
)

func TestProxiesClient(t *testing.T) {
	proxies, err := clientnet.ParseProxies([]string{"10.0.0.0/8", " fd00::1 ", ""})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		xff    []string
		want   string
		wantOK bool
	}{
		{name: "the nearest hop that is not a proxy", xff: []string{"6.6.6.6, 198.51.100.7, 10.0.0.9"}, want: "198.51.100.7", wantOK: true},
		{name: "headers joined in order", xff: []string{"6.6.6.6", "198.51.100.7,10.0.0.9"}, want: "198.51.100.7", wantOK: true},
		{name: "IPv6 proxy by bare address", xff: []string{"198.51.100.7, fd00::1"}, want: "198.51.100.7", wantOK: true},
		{name: "nearest not a proxy: it is the client", xff: []string{"198.51.100.7, 203.0.113.1"}, want: "203.0.113.1", wantOK: true},
		{name: "all proxies: the farthest", xff: []string{"10.0.0.1, 10.0.0.2"}, want: "10.0.0.1", wantOK: true},
		{name: "canonical form", xff: []string{"[::ffff:198.51.100.7]"}, want: "198.51.100.7", wantOK: true},
		{name: "unparsable hop reached", xff: []string{"198.51.100.7, nonsense, 10.0.0.9"}, wantOK: false},
		{name: "unparsable hop past the client is not reached", xff: []string{"nonsense, 198.51.100.7"}, want: "198.51.100.7", wantOK: true},
		{name: "no hops", wantOK: false},
	} {
		h := http.Header{}
		for _, v := range c.xff {
			h.Add("X-Forwarded-For", v)
		}
		got, ok := proxies.Client(clientnet.ForwardedFor(h))
		if ok != c.wantOK || got != c.want {
			t.Errorf("%s: Client(%q) = %q, %v; want %q, %v", c.name, c.xff, got, ok, c.want, c.wantOK)
		}
	}
	if !proxies.Contains(netip.MustParseAddr("::ffff:10.1.2.3")) || proxies.Contains(netip.MustParseAddr("127.0.0.1")) {
		t.Error("Contains: IPv4-mapped addresses count as IPv4; loopback is trusted only when listed")
	}
	if _, err := clientnet.ParseProxies([]string{"10.0.0.0/33"}); err == nil {
		t.Error("ParseProxies accepted 10.0.0.0/33")
	}
	if _, err := clientnet.ParseProxies([]string{"proxy.example"}); err == nil {
		t.Error("ParseProxies accepted a name")
	}
}

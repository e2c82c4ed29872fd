package authrpc

import (
	"net/http"
	"net/netip"

	"github.com/parleyhq/parley/platform/clientnet"
)

// ClientKey names where a request came from, for login throttling: an IPv4 address, or the /64
// an IPv6 address belongs to (one subscriber usually holds a whole /64, so keying by the full
// address would hand each attacker 2^64 keys).
//
// Trust: the service is reached only through the gateway, which drops X-Forwarded-For from
// untrusted peers and appends the address of the peer it saw (httputil's SetXForwarded). So the
// last hop is the gateway's peer; hops of trustedProxies (the proxies in front of the gateway, the
// gateway's own TRUSTED_PROXIES) are skipped from the right, and the first other hop is the client.
// Without X-Forwarded-For the TCP peer is the client. Anything unparsable gives "unknown".
func ClientKey(header http.Header, peer string, trustedProxies clientnet.Proxies) string {
	hops := clientnet.ForwardedFor(header)
	if len(hops) == 0 {
		ap, err := netip.ParseAddrPort(peer)
		if err != nil {
			return keyOf(peer) // a bare address (some transports)
		}
		return keyOf(ap.Addr().String())
	}
	client, ok := trustedProxies.Client(hops)
	if !ok {
		return "unknown"
	}
	return keyOf(client)
}

// keyOf is the client's network (clientnet.Key), or "unknown" for what is not an address.
func keyOf(s string) string {
	if key, ok := clientnet.Key(s); ok {
		return key
	}
	return "unknown"
}

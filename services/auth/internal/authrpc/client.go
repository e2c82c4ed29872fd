package authrpc

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

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
func ClientKey(header http.Header, peer string, trustedProxies []netip.Prefix) string {
	var hops []string
	for _, v := range header.Values("X-Forwarded-For") {
		for _, hop := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(hop))
		}
	}
	if len(hops) == 0 {
		ap, err := netip.ParseAddrPort(peer)
		if err != nil {
			return keyOf(peer) // a bare address (some transports)
		}
		return keyOf(ap.Addr().String())
	}
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(hops[i])
		if err != nil {
			return "unknown"
		}
		if i > 0 && trusted(addr.Unmap(), trustedProxies) {
			continue
		}
		return keyOf(hops[i])
	}
	return "unknown"
}

// keyOf is the client's network (clientnet.Key), or "unknown" for what is not an address.
func keyOf(s string) string {
	if key, ok := clientnet.Key(s); ok {
		return key
	}
	return "unknown"
}

func trusted(addr netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ParsePrefixes parses CIDRs (a bare address is its own /32 or /128).
func ParsePrefixes(cidrs []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, c := range cidrs {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if !strings.Contains(c, "/") {
			addr, err := netip.ParseAddr(c)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or CIDR", c)
			}
			out = append(out, netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR", c)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

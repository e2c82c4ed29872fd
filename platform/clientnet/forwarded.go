package clientnet

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the networks of the proxies whose X-Forwarded-For a service believes (the
// gateway's TRUSTED_PROXIES, auth's AUTH_TRUSTED_PROXIES). Loopback, link-local and private
// ranges are trusted only when listed. Use it, with ForwardedFor, wherever a request's client
// address is read behind proxies, so that every service walks the chain the same way.
type Proxies []netip.Prefix

// ParseProxies parses CIDRs; a bare address is its own /32 or /128, empty entries are skipped.
func ParseProxies(cidrs []string) (Proxies, error) {
	var out Proxies
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

// Contains reports whether addr (an IPv4-mapped IPv6 address as the IPv4 it maps) is one of the
// proxies.
func (p Proxies) Contains(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, n := range p {
		if n.Contains(addr) {
			return true
		}
	}
	return false
}

// ForwardedFor is the chain of hops a request's X-Forwarded-For headers name, farthest first
// (every header, each split at commas, spaces trimmed).
func ForwardedFor(h http.Header) []string {
	var hops []string
	for _, v := range h.Values("X-Forwarded-For") {
		for hop := range strings.SplitSeq(v, ",") {
			hops = append(hops, strings.TrimSpace(hop))
		}
	}
	return hops
}

// Client walks hops (farthest first, nearest last) from the nearest back and returns the first
// that is not one of the proxies: the client, as the nearest hop that is not a proxy saw it — never
// simply the farthest, which the client itself may have written. When every hop is a proxy it
// returns the farthest. The address comes back in canonical form (brackets and IPv4 mapping
// dropped). ok is false when hops is empty or a hop it reaches is not an IP address: the chain
// cannot be believed past it, and the caller falls back to what it knows (the TCP peer, or
// "unknown").
func (p Proxies) Client(hops []string) (addr string, ok bool) {
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.Trim(hops[i], "[]"))
		if err != nil {
			return "", false
		}
		if i > 0 && p.Contains(a) {
			continue
		}
		return a.Unmap().String(), true
	}
	return "", false
}

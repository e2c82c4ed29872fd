// Package clientnet finds a request's client behind trusted proxies (Proxies, ForwardedFor) and
// says which network a client address belongs to (Key), for budgets and throttles
// keyed per client: one subscriber gets one IPv4 address but a whole IPv6 /64 (any of 2^64
// addresses), so keying IPv6 by the full address would let one host escape every per-client limit.
package clientnet

import (
	"net/netip"
	"strings"
)

// Key is the network of addr: an IPv4 address as it is (an IPv4-mapped IPv6 address as the IPv4
// it maps), an IPv6 address as its /64 ("2001:db8:1:2::/64"), zones dropped; brackets are
// allowed. ok is false when addr is not an IP address.
func Key(addr string) (key string, ok bool) {
	a, err := netip.ParseAddr(strings.Trim(addr, "[]"))
	if err != nil {
		return "", false
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String(), true
	}
	return netip.PrefixFrom(a, 64).Masked().String(), true
}

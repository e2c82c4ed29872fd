package webpush

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// The endpoint is a URL a user gave us and the server requests it: without a guard, anyone could
// make the service send requests into its own network (SSRF). The guard refuses, when resolving
// AND when connecting (so a name that resolves elsewhere later — DNS rebinding — is still caught),
// every address that is not public unicast.

// refusedPrefixes are the non-public ranges netip's predicates do not cover.
var refusedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and the broadcast address
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64: reaches any IPv4 address, private ones too
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2002::/16"),      // 6to4: embeds an IPv4 address
	netip.MustParsePrefix("100::/64"),       // discard-only
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
	netip.MustParsePrefix("169.254.0.0/16"), // link-local, with the cloud metadata address 169.254.169.254
	netip.MustParsePrefix("fd00:ec2::/32"),  // AWS's IPv6 metadata (inside fc00::/7 too)
}

// refusal says why addr may not be connected to, "" when it may: loopback, private (RFC 1918,
// unique-local fc00::/7), link-local (cloud metadata), CGNAT, multicast, unspecified and the
// reserved ranges above. An IPv4-mapped IPv6 address is judged as the IPv4 address.
func refusal(addr netip.Addr) string {
	addr = addr.Unmap()
	switch {
	case !addr.IsValid():
		return "not an IP address"
	case addr.IsLoopback():
		return "loopback"
	case addr.IsPrivate():
		return "private"
	case addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast():
		return "link-local"
	case addr.IsMulticast() || addr.IsInterfaceLocalMulticast():
		return "multicast"
	case addr.IsUnspecified():
		return "unspecified"
	}
	for _, p := range refusedPrefixes {
		if p.Contains(addr) {
			return "reserved (" + p.String() + ")"
		}
	}
	return ""
}

// Resolver looks names up (*net.Resolver does; tests give their own).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// guard checks endpoints and the addresses connections go to.
type guard struct {
	resolver     Resolver
	allowPrivate bool // PUSH_ALLOW_PRIVATE_ENDPOINTS: a local push service in development and tests
}

// MaxEndpointLen bounds an endpoint URL (browsers' are a few hundred characters).
const MaxEndpointLen = 2048

// CheckEndpoint refuses an endpoint the service must not request: not an absolute https URL with
// a host (no user info, no fragment), or a host that is, or resolves to, an address that is not
// public. The message names what is wrong, for an "endpoint: …" error.
func (g *guard) CheckEndpoint(ctx context.Context, endpoint string) error {
	u, err := checkURL(endpoint)
	if err != nil {
		return err
	}
	if g.allowPrivate {
		return nil
	}
	_, err = g.resolve(ctx, u.Hostname())
	return err
}

// checkURL is CheckEndpoint without the look-up: the shape of the URL.
func checkURL(endpoint string) (*url.URL, error) {
	if len(endpoint) > MaxEndpointLen {
		return nil, fmt.Errorf("must be at most %d characters, got %d", MaxEndpointLen, len(endpoint))
	}
	u, err := url.Parse(endpoint)
	switch {
	case err != nil:
		return nil, errors.New("not a URL")
	case u.Scheme != "https":
		return nil, fmt.Errorf("must be an https URL, got %q", endpoint)
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("must name a host")
	case u.User != nil:
		return nil, errors.New("must not carry a user name or password")
	case u.Fragment != "" || strings.Contains(endpoint, "#"):
		return nil, errors.New("must not have a fragment")
	}
	return u, nil
}

// refusedError is the guard refusing an address, as opposed to a look-up that failed (which may
// work next time).
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

func refused(format string, args ...any) error { return &refusedError{fmt.Sprintf(format, args...)} }

// resolve returns host's addresses, refusing the lot if any of them is not public: a name that
// mixes a public address with a private one is not a push service.
func (g *guard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if addr, err := netip.ParseAddr(host); err == nil {
		if why := refusal(addr); why != "" && !g.allowPrivate {
			return nil, refused("host %s is a %s address, not a public one", addr, why)
		}
		return []netip.Addr{addr}, nil
	}
	addrs, err := g.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil, fmt.Errorf("host %s does not resolve", host)
	}
	if !g.allowPrivate {
		for _, a := range addrs {
			if why := refusal(a); why != "" {
				return nil, refused("host %s resolves to %s, a %s address, not a public one", host, a.Unmap(), why)
			}
		}
	}
	return addrs, nil
}

// dialContext connects to addr ("host:port") through the guard: it resolves the host itself,
// refuses it when any address is not public, and dials the checked addresses — never the name, so
// no second lookup can answer differently. The dialer's Control checks the address once more as
// the socket connects.
func (g *guard) dialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	checked := *d
	checked.Control = func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("push: connect to %s: not an address", address)
		}
		if why := refusal(ap.Addr()); why != "" && !g.allowPrivate {
			return refused("refused to connect to %s: a %s address", ap.Addr(), why)
		}
		return nil
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		addrs, err := g.resolve(ctx, host)
		if err != nil {
			return nil, err
		}
		var firstErr error
		for _, a := range addrs {
			conn, err := checked.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
			if err == nil {
				return conn, nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		return nil, firstErr
	}
}

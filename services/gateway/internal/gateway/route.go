package gateway

import (
	"fmt"
	"net/url"
	"strings"
)

// APIPrefix is the path under which RPCs are served: /api/<package>.<Service>/<Method> is
// forwarded to the owning service as /<package>.<Service>/<Method>.
const APIPrefix = "/api"

// Procedure is a parsed RPC path.
type Procedure struct {
	// Path is the full procedure, "/parley.auth.v1.AuthService/Login".
	Path string
	// Package is the protobuf package, "parley.auth.v1".
	Package string
	// Service is the unqualified service name, "AuthService".
	Service string
	// Method is the method name, "Login".
	Method string
}

// ParseProcedure parses "/parley.auth.v1.AuthService/Login" (without the /api prefix): a
// fully-qualified protobuf service name (a package of one or more identifiers, then the service)
// and a method name, every part [A-Za-z_][A-Za-z0-9_]*. Nothing else is ever forwarded. (Written
// out rather than a regular expression: it runs on every call.)
func ParseProcedure(path string) (Procedure, bool) {
	rest, ok := strings.CutPrefix(path, "/")
	if !ok {
		return Procedure{}, false
	}
	service, method, ok := strings.Cut(rest, "/")
	if !ok || !isIdent(method) {
		return Procedure{}, false
	}
	dot := strings.LastIndexByte(service, '.')
	if dot < 0 {
		return Procedure{}, false
	}
	pkg, name := service[:dot], service[dot+1:]
	if !isIdent(name) {
		return Procedure{}, false
	}
	for part := range strings.SplitSeq(pkg, ".") {
		if !isIdent(part) {
			return Procedure{}, false
		}
	}
	return Procedure{Path: path, Package: pkg, Service: name, Method: method}, true
}

// isIdent reports whether s is [A-Za-z_][A-Za-z0-9_]*.
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Upstream is one backend service the gateway forwards to.
type Upstream struct {
	// Name is the service's short name ("auth"), the second element of its packages
	// (parley.auth.v1, parley.auth.v2, …).
	Name string
	// URL is its base URL, e.g. http://127.0.0.1:8081.
	URL *url.URL
}

// NewUpstream parses rawURL for the named service.
func NewUpstream(name, rawURL string) (Upstream, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Upstream{}, fmt.Errorf("upstream %s: %w", name, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Upstream{}, fmt.Errorf("upstream %s: %q must be an absolute http:// or https:// URL", name, rawURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Upstream{}, fmt.Errorf("upstream %s: %q must not have a query or fragment", name, rawURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return Upstream{Name: name, URL: u}, nil
}

// routes maps a procedure to its upstream: package parley.<name>.v<N> belongs to upstream <name>.
type routes struct {
	byName map[string]Upstream
}

func newRoutes(upstreams []Upstream) (routes, error) {
	r := routes{byName: make(map[string]Upstream, len(upstreams))}
	for _, u := range upstreams {
		if _, dup := r.byName[u.Name]; dup {
			return routes{}, fmt.Errorf("upstream %s configured twice", u.Name)
		}
		r.byName[u.Name] = u
	}
	return r, nil
}

// isVersion reports whether s is a package version: v1, v2, v1alpha, v2beta1 (v[0-9]+, then
// optionally alpha or beta and digits).
func isVersion(s string) bool {
	rest, ok := strings.CutPrefix(s, "v")
	n := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
	if !ok || n == 0 {
		return false
	}
	rest = rest[n:]
	if rest == "" {
		return true
	}
	for _, stage := range []string{"alpha", "beta"} {
		if after, ok := strings.CutPrefix(rest, stage); ok {
			return strings.Trim(after, "0123456789") == ""
		}
	}
	return false
}

// lookup returns the upstream owning p's package: parley.<name>.<version>.
func (r routes) lookup(p Procedure) (Upstream, bool) {
	rest, ok := strings.CutPrefix(p.Package, "parley.")
	if !ok {
		return Upstream{}, false
	}
	name, version, ok := strings.Cut(rest, ".")
	if !ok || !isVersion(version) {
		return Upstream{}, false
	}
	u, ok := r.byName[name]
	return u, ok
}

// normalizeProcedure accepts "parley.auth.v1.AuthService/Login" with or without its leading slash.
func normalizeProcedure(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasPrefix(s, "/") {
		return s
	}
	return "/" + s
}

func procedureSet(list []string) (map[string]bool, error) {
	m := make(map[string]bool, len(list))
	for _, p := range list {
		p = normalizeProcedure(p)
		if p == "" {
			continue
		}
		if _, ok := ParseProcedure(p); !ok {
			return nil, fmt.Errorf("%q is not a procedure like /parley.auth.v1.AuthService/Login", p)
		}
		m[p] = true
	}
	return m, nil
}

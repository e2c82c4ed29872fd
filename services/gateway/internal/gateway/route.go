package gateway

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// APIPrefix is the path under which RPCs are served: /api/<package>.<Service>/<Method> is
// forwarded to the owning service as /<package>.<Service>/<Method>.
const APIPrefix = "/api"

// procedurePattern is a fully-qualified protobuf service name and a method name, e.g.
// /parley.auth.v1.AuthService/Login. Nothing else is ever forwarded.
var procedurePattern = regexp.MustCompile(`^/((?:[A-Za-z_][A-Za-z0-9_]*\.)+)([A-Za-z_][A-Za-z0-9_]*)/([A-Za-z_][A-Za-z0-9_]*)$`)

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

// ParseProcedure parses "/parley.auth.v1.AuthService/Login" (without the /api prefix).
func ParseProcedure(path string) (Procedure, bool) {
	m := procedurePattern.FindStringSubmatch(path)
	if m == nil {
		return Procedure{}, false
	}
	return Procedure{Path: path, Package: strings.TrimSuffix(m[1], "."), Service: m[2], Method: m[3]}, true
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

var versionPattern = regexp.MustCompile(`^v[0-9]+(?:(?:alpha|beta)[0-9]*)?$`)

// lookup returns the upstream owning p's package.
func (r routes) lookup(p Procedure) (Upstream, bool) {
	parts := strings.Split(p.Package, ".")
	if len(parts) != 3 || parts[0] != "parley" || !versionPattern.MatchString(parts[2]) {
		return Upstream{}, false
	}
	u, ok := r.byName[parts[1]]
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

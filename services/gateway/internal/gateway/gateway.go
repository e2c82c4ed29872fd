// Package gateway is Parley's public entry: it authenticates and rate-limits RPCs under /api and
// forwards them to the owning service (Connect, gRPC and gRPC-Web, unary and streaming), answers
// CORS, serves probes and the web client.
//
// The echo instance is exposed (Echo) so further endpoints — the realtime WebSocket — are added
// beside the API with the same middleware (request id, access log, panic recovery, CORS).
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"time"

	connectcors "connectrpc.com/cors"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/contracts/access"
	"github.com/parleyhq/parley/platform/clientnet"
	"github.com/parleyhq/parley/platform/defaults"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/platform/telemetry"

	"github.com/parleyhq/parley/services/gateway/internal/expiring"
	"github.com/parleyhq/parley/services/gateway/internal/ratelimit"
)

// DefaultPublicProcedures need no access token: those marked ACCESS_PUBLIC in the protos.
var DefaultPublicProcedures = access.Public()

// DefaultInternalProcedures are served by the services only to other services: the gateway never
// routes them, whoever asks (they answer NotFound, as an unknown procedure does). They are those
// marked ACCESS_INTERNAL or ACCESS_INTERNAL_SERVICE in the protos.
var DefaultInternalProcedures = access.Internal()

// DefaultAuthLimitedProcedures are limited per client network with the (strict) auth limit: those
// marked RATE_LIMIT_AUTH in the protos, the public calls that hand out tokens for a password, a
// refresh token or a new account.
var DefaultAuthLimitedProcedures = access.AuthLimited()

// Options configure a Gateway. Zero values take the documented defaults.
type Options struct {
	Logger    *slog.Logger
	Upstreams []Upstream
	// Verifier checks access tokens (an *authn.Verifier over the auth service's JWKS).
	Verifier TokenVerifier
	// PublicProcedures need no token (default DefaultPublicProcedures).
	PublicProcedures []string
	// InternalProcedures are never routed (default DefaultInternalProcedures).
	InternalProcedures []string
	// CORSAllowedOrigins may call the API from a browser ("*" allows any).
	CORSAllowedOrigins []string
	// CORSMaxAge is how long browsers may cache a preflight answer (default 2h).
	CORSMaxAge time.Duration
	// MaxBodyBytes caps a request body (default 4 MiB).
	MaxBodyBytes int64
	// Limiter counts requests; nil disables rate limiting.
	Limiter *ratelimit.Limiter
	// AuthLimitedProcedures are limited per client IP to AuthLimit per RateWindow (default
	// DefaultAuthLimitedProcedures); every other call per user (per IP when anonymous) to UserLimit.
	AuthLimitedProcedures []string
	AuthLimit             int
	UserLimit             int
	RateWindow            time.Duration
	// TrustedProxies are CIDRs of proxies in front of the gateway whose X-Forwarded-For is
	// believed; empty means the peer address is the client.
	TrustedProxies []string
	// WebDir, when set, is the built web app (index.html and assets/), served at /; otherwise /
	// says where the API is.
	WebDir string
	// WebSources are the other origins the app's Content-Security-Policy allows.
	WebSources WebSources
	// InsecureRefreshCookie leaves Secure off the refresh-token cookie, for a browser reaching
	// the gateway over plain http (development). The request cannot tell: a TLS-terminating
	// proxy may well forward plain http with its upstream's Host.
	InsecureRefreshCookie bool
	// ReadyTimeout bounds one round of readiness checks (default 2s).
	ReadyTimeout time.Duration
	// ReadyCacheTTL is how long one round's report answers /readyz (default 1s): a flood of
	// probes costs at most one round of checks per interval.
	ReadyCacheTTL time.Duration
	// ReadyToken, when set, makes the public /readyz give the detailed report to a caller
	// presenting it as a bearer token; everyone else gets the status only.
	ReadyToken string
	// Transport reaches the upstreams (default NewProxyTransport()).
	Transport http.RoundTripper
	// Telemetry measures the calls proxied (by procedure and code) and the rate-limit refusals
	// and, with tracing on, gives each call under /api a server span whose context the upstream
	// continues. Nil: none of it.
	Telemetry *telemetry.Telemetry
}

// Gateway is the configured HTTP handler.
type Gateway struct {
	logger       *slog.Logger
	echo         *echo.Echo
	routes       routes
	upstreams    []Upstream
	verifier     TokenVerifier
	public       map[string]bool
	internal     map[string]bool
	authLimited  map[string]bool
	limiter      *ratelimit.Limiter
	authLimit    int
	userLimit    int
	window       time.Duration
	maxBody      int64
	trusted      clientnet.Proxies
	transport    http.RoundTripper
	proxy        *httputil.ReverseProxy
	ready        *readiness
	readyToken   string
	anonRefusals *expiring.Set
	secureCookie bool
	tel          *telemetry.Telemetry
	rateLimited  *prometheus.CounterVec

	sessionRevoked func(ctx context.Context, sessionID string) (bool, error)
}

// New builds the gateway.
func New(opts Options) (*Gateway, error) {
	if opts.Logger == nil {
		return nil, errors.New("gateway: no logger")
	}
	if opts.Verifier == nil {
		return nil, errors.New("gateway: no token verifier")
	}
	if opts.PublicProcedures == nil {
		opts.PublicProcedures = DefaultPublicProcedures
	}
	if opts.InternalProcedures == nil {
		opts.InternalProcedures = DefaultInternalProcedures
	}
	if opts.AuthLimitedProcedures == nil {
		opts.AuthLimitedProcedures = DefaultAuthLimitedProcedures
	}
	opts.CORSMaxAge = defaults.Positive(opts.CORSMaxAge, 2*time.Hour)
	opts.MaxBodyBytes = defaults.Positive(opts.MaxBodyBytes, 4<<20)
	opts.RateWindow = defaults.Positive(opts.RateWindow, time.Minute)
	opts.ReadyTimeout = defaults.Positive(opts.ReadyTimeout, 2*time.Second)
	opts.ReadyCacheTTL = defaults.Positive(opts.ReadyCacheTTL, time.Second)
	if opts.Transport == nil {
		opts.Transport = NewProxyTransport()
	}
	rt, err := newRoutes(opts.Upstreams)
	if err != nil {
		return nil, err
	}
	public, err := procedureSet(opts.PublicProcedures)
	if err != nil {
		return nil, fmt.Errorf("public procedures: %w", err)
	}
	internal, err := procedureSet(opts.InternalProcedures)
	if err != nil {
		return nil, fmt.Errorf("internal procedures: %w", err)
	}
	authLimited, err := procedureSet(opts.AuthLimitedProcedures)
	if err != nil {
		return nil, fmt.Errorf("auth-limited procedures: %w", err)
	}
	g := &Gateway{
		logger:       opts.Logger,
		routes:       rt,
		upstreams:    opts.Upstreams,
		verifier:     opts.Verifier,
		public:       public,
		internal:     internal,
		authLimited:  authLimited,
		limiter:      opts.Limiter,
		authLimit:    opts.AuthLimit,
		userLimit:    opts.UserLimit,
		window:       opts.RateWindow,
		maxBody:      opts.MaxBodyBytes,
		transport:    opts.Transport,
		ready:        &readiness{timeout: opts.ReadyTimeout, ttl: opts.ReadyCacheTTL, now: time.Now},
		readyToken:   opts.ReadyToken,
		anonRefusals: newRefusals(),
		secureCookie: !opts.InsecureRefreshCookie,
		tel:          opts.Telemetry,
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: telemetry.MetricRateLimited,
			Help: "Calls refused by a rate limit, by limit: auth (sign-in calls per client network), user, anon (calls without a token per client network), ready (probes).",
		}, []string{"limit"}),
	}
	opts.Telemetry.RegisterOnce(telemetry.MetricRateLimited, g.rateLimited)
	for _, u := range opts.Upstreams {
		g.ready.checks = append(g.ready.checks, g.upstreamCheck(u))
	}
	if opts.Limiter != nil {
		g.ready.checks = append(g.ready.checks, ReadinessCheck{Name: "redis (rate limits)", Check: func(ctx context.Context) error {
			if err := opts.Limiter.Ping(ctx); err != nil {
				return fmt.Errorf("unavailable, rate limits fail open: %w", err)
			}
			return nil
		}})
	}
	trusted, err := clientnet.ParseProxies(opts.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("trusted proxy: %w", err)
	}
	g.trusted = trusted
	g.proxy = g.newReverseProxy()
	if g.echo, err = g.newEcho(opts); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *Gateway) newEcho(opts Options) (*echo.Echo, error) {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.IPExtractor = g.clientIP
	e.Use(requestContext(), accessLog(g.logger, g.tel), recoverPanics(g.logger))
	e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOrigins:  opts.CORSAllowedOrigins,
		AllowMethods:  connectcors.AllowedMethods(),
		AllowHeaders:  append(connectcors.AllowedHeaders(), "Authorization", HeaderRequestID),
		ExposeHeaders: append(connectcors.ExposedHeaders(), HeaderRequestID, HeaderTraceID, "Retry-After"),
		MaxAge:        int(opts.CORSMaxAge.Seconds()),
	}))

	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", g.readyz, g.limitProbe())
	e.Any(APIPrefix+"/*", g.serveAPI)
	e.Any(APIPrefix, g.serveAPI)
	e.GET(FilesPrefix+"*", g.serveFile)
	e.HEAD(FilesPrefix+"*", g.serveFile)
	csp, err := webCSP(opts.WebSources)
	if err != nil {
		return nil, err
	}
	if err := g.mountWeb(e, opts.WebDir, csp); err != nil {
		return nil, err
	}
	return e, nil
}

// Echo returns the router, for adding endpoints (the realtime WebSocket) next to the API.
func (g *Gateway) Echo() *echo.Echo { return g.echo }

// Handler returns the complete HTTP handler.
func (g *Gateway) Handler() http.Handler { return g.echo }

// clientIP is the peer address, or — when the peer is a trusted proxy — the nearest untrusted
// address of its X-Forwarded-For chain (clientnet.Proxies.Client; the peer address when a hop on
// the way is not an address).
func (g *Gateway) clientIP(r *http.Request) string {
	peer := echo.ExtractIPDirect()(r)
	if len(g.trusted) == 0 {
		return peer
	}
	addr, err := netip.ParseAddr(peer)
	if err != nil {
		return peer
	}
	if !g.trusted.Contains(addr) {
		// The peer is the client, as Proxies.Client would find at the chain's nearest hop: what
		// it wrote in X-Forwarded-For is not read at all, so a long header costs it nothing.
		return addr.Unmap().String()
	}
	// The peer is a trusted proxy, which Proxies.Client would skip as the chain's nearest hop:
	// the walk starts at the hop before it, the peer not being parsed again.
	if client, ok := g.trusted.Client(clientnet.ForwardedFor(r.Header)); ok {
		return client
	}
	return addr.Unmap().String()
}

func (g *Gateway) trustedPeer(r *http.Request) bool {
	ip, err := netip.ParseAddr(echo.ExtractIPDirect()(r))
	return err == nil && g.trusted.Contains(ip)
}

// ServerOptions are the HTTP server's timeouts.
type ServerOptions struct {
	ReadHeaderTimeout time.Duration // default 10s
	IdleTimeout       time.Duration // default 2m
	ShutdownTimeout   time.Duration // default 15s
}

// Serve answers on ln (HTTP/1.1 and h2c, so gRPC clients can connect without TLS) until ctx ends,
// then stops accepting and lets in-flight requests finish within ShutdownTimeout before closing
// what is left (long streams). There is no overall write timeout: streams are long by design.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener, so ServerOptions) error {
	so.ReadHeaderTimeout = defaults.Positive(so.ReadHeaderTimeout, 10*time.Second)
	so.IdleTimeout = defaults.Positive(so.IdleTimeout, 2*time.Minute)
	so.ShutdownTimeout = defaults.Positive(so.ShutdownTimeout, 15*time.Second)
	err := server.ServeHTTP(ctx, g.logger, ln, g.echo, server.HTTPTimeouts{
		ReadHeader: so.ReadHeaderTimeout, Idle: so.IdleTimeout, Shutdown: so.ShutdownTimeout,
	})
	if errors.Is(err, context.DeadlineExceeded) {
		// Long-lived streams outlast any bound; they were cut (clients reconnect): not a failure.
		g.logger.WarnContext(ctx, "shutdown timeout: closed the remaining connections", slog.Any("error", err))
		err = nil
	}
	if err != nil {
		return err
	}
	if t, ok := g.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections() // lets the services' own graceful shutdowns finish at once
	}
	return nil
}

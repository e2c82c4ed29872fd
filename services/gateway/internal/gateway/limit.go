package gateway

import (
	"math"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/labstack/echo/v4"

	"github.com/parleyhq/parley/platform/clientnet"

	"github.com/parleyhq/parley/services/gateway/internal/expiring"
)

// LimitPerIP is middleware applying the anonymous per-IP rate limit (RATE_LIMIT_USER per window)
// to a route outside /api, such as the WebSocket upgrade: it is accepted before any token is
// checked, so without a limit one client could hold thousands of unauthenticated sockets.
func (g *Gateway) LimitPerIP() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !g.allow(c, Procedure{Path: c.Path()}, "") {
				return nil
			}
			return next(c)
		}
	}
}

// limitProbe limits /readyz per client network like an anonymous call, but in a bucket of its
// own (RATE_LIMIT_USER per window): a load balancer's health checks from an address must not be
// refused because API traffic from the same address used up the anonymous budget.
func (g *Gateway) limitProbe() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !g.allowKey(c, "ready:ip:"+clientNetwork(c.RealIP()), g.userLimit) {
				return nil
			}
			return next(c)
		}
	}
}

// allow applies the rate limits and answers ResourceExhausted (429 with Retry-After) when one is
// exceeded: the auth-limited procedures per client network, everything else per user (per client
// network for anonymous calls).
func (g *Gateway) allow(c echo.Context, proc Procedure, userID string) bool {
	switch {
	case g.authLimited[proc.Path]:
		return g.allowKey(c, "auth:ip:"+clientNetwork(c.RealIP()), g.authLimit)
	case userID != "":
		return g.allowKey(c, "user:"+userID, g.userLimit)
	default:
		return g.allowAnonymous(c)
	}
}

// allowAnonymous charges one call to the client network's anonymous budget. A refusal is also
// remembered by this gateway until its Retry-After, so that further calls from the network that
// carry an unknown token are refused before the token is verified (see authenticateCall).
func (g *Gateway) allowAnonymous(c echo.Context) bool {
	key := anonymousKey(c)
	ok, retryAfter := g.check(c, key, g.userLimit)
	if !ok {
		g.anonRefusals.Add(key, time.Now().Add(retryAfter))
		g.tooManyRequests(c, key, retryAfter)
	}
	return ok
}

func anonymousKey(c echo.Context) string { return "anon:ip:" + clientNetwork(c.RealIP()) }

// allowKey counts one call against key's limit per window and, when it is over, answers
// ResourceExhausted with Retry-After and reports false.
func (g *Gateway) allowKey(c echo.Context, key string, limit int) bool {
	ok, retryAfter := g.check(c, key, limit)
	if !ok {
		g.tooManyRequests(c, key, retryAfter)
	}
	return ok
}

// check counts one call against key's limit per window; a refusal says how long to wait.
func (g *Gateway) check(c echo.Context, key string, limit int) (bool, time.Duration) {
	if g.limiter == nil {
		return true, 0
	}
	d := g.limiter.Allow(c.Request().Context(), key, limit, g.window)
	return d.Allowed, d.RetryAfter
}

// tooManyRequests answers ResourceExhausted (HTTP 429 for Connect) with Retry-After in whole
// seconds, at least 1, and counts the refusal under the kind of limit key belongs to (its prefix:
// auth, user, anon, ready — a bounded label, never the key itself).
func (g *Gateway) tooManyRequests(c echo.Context, key string, retryAfter time.Duration) {
	kind, _, _ := strings.Cut(key, ":")
	g.rateLimited.WithLabelValues(kind).Inc()
	secs := strconv.Itoa(max(1, int(math.Ceil(retryAfter.Seconds()))))
	c.Response().Header().Set("Retry-After", secs)
	writeRPCError(c.Response(), c.Request(), connect.CodeResourceExhausted, "too many requests: try again in "+secs+"s", 0)
}

// clientNetwork is what a per-IP budget is keyed by (clientnet.Key: IPv4 as it is, IPv6 by its
// /64). Anything that does not parse (it cannot: it comes from the peer address or a parsed
// X-Forwarded-For) is kept as it is.
func clientNetwork(ip string) string {
	if key, ok := clientnet.Key(ip); ok {
		return key
	}
	return ip
}

// maxRefusals bounds the refusals a gateway remembers; past it new ones are not remembered (those
// networks are still limited, through Redis, one call at a time).
const maxRefusals = 65536

// newRefusals is the memory of client networks whose anonymous budget is used up, until their
// Retry-After. It is this gateway's memory only, learnt from Redis' answers; it saves the work of
// verifying tokens from a network that is refused anyway, so when full it drops new refusals
// (expiring.DropNew) rather than spend a scan on every one.
func newRefusals() *expiring.Set { return expiring.New(maxRefusals, expiring.DropNew) }

// refusedFor reports how long key is still refused for (0: it is not).
func (g *Gateway) refusedFor(key string) time.Duration {
	until, ok := g.anonRefusals.Until(key, time.Now())
	if !ok {
		return 0
	}
	return max(0, time.Until(until))
}

package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"
	"github.com/labstack/echo/v4"

	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/logging"
)

// TokenVerifier checks an access token; *authn.Verifier is the real one.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (authn.Principal, error)
}

// knownTokens is implemented by a verifier that remembers tokens it verified (*authn.Verifier):
// Known answers from that memory alone, without verifying anything.
type knownTokens interface {
	Known(raw string) (authn.Principal, bool)
}

// authenticateCall authenticates an API call that needs a token, or answers it and reports false.
//
// Tokens are checked only within the client's anonymous rate budget: a call whose token does not
// verify (missing, malformed, forged, expired) or cannot be verified now is charged to the client
// network's anonymous budget (RATE_LIMIT_USER per window), so a flood of bad tokens ends in
// ResourceExhausted like any anonymous flood. Once that budget is refused, the gateway does not
// verify further unknown tokens from the network until Retry-After; a token it already verified
// (a signed-in user behind the same address) still passes on to the per-user limit.
func (g *Gateway) authenticateCall(c echo.Context) (authn.Principal, bool) {
	r := c.Request()
	raw := authn.BearerToken(r.Header.Get("Authorization"))
	if k, ok := g.verifier.(knownTokens); ok && raw != "" {
		if p, ok := k.Known(raw); ok {
			return p, true
		}
	}
	if g.limiter != nil {
		if wait := g.refusedFor(anonymousKey(c)); wait > 0 {
			g.tooManyRequests(c, anonymousKey(c), wait)
			return authn.Principal{}, false
		}
	}
	p, cerr := g.Authenticate(r)
	if cerr != nil {
		g.refuseAnonymous(c, cerr.Code(), cerr.Message())
		return authn.Principal{}, false
	}
	return p, true
}

// refuseAnonymous answers a call that did not authenticate with code and msg, after charging it
// to the client network's anonymous budget: over the budget, the answer is ResourceExhausted.
func (g *Gateway) refuseAnonymous(c echo.Context, code connect.Code, msg string) {
	if !g.allowAnonymous(c) {
		return
	}
	writeRPCError(c.Response(), c.Request(), code, msg, 0)
}

// Authenticate returns the caller named by r's bearer token. A missing or invalid token is
// Unauthenticated; a token that cannot be checked right now (the auth service's keys cannot be
// fetched) is Unavailable, so a client retries instead of signing the person out. The realtime
// endpoint authenticates its upgrade request the same way.
func (g *Gateway) Authenticate(r *http.Request) (authn.Principal, *connect.Error) {
	raw := authn.BearerToken(r.Header.Get("Authorization"))
	if raw == "" {
		return authn.Principal{}, connect.NewError(connect.CodeUnauthenticated, errors.New("missing access token: send Authorization: Bearer <token>"))
	}
	return g.VerifyToken(r.Context(), raw)
}

// VerifyToken checks a raw access token that did not come in an Authorization header (the
// realtime WebSocket takes it from a subprotocol or its first frame), with the same answers as
// Authenticate: Unauthenticated for a bad token, Unavailable when the keys cannot be fetched.
func (g *Gateway) VerifyToken(ctx context.Context, raw string) (authn.Principal, *connect.Error) {
	if raw == "" {
		return authn.Principal{}, connect.NewError(connect.CodeUnauthenticated, errors.New("missing access token"))
	}
	p, err := g.verifier.Verify(ctx, raw)
	if err != nil {
		if errors.Is(err, authn.ErrInvalidToken) {
			return authn.Principal{}, connect.NewError(connect.CodeUnauthenticated, errors.New("invalid or expired access token"))
		}
		logging.AddAttrs(ctx, slog.String("error", "verify token: "+err.Error()))
		return authn.Principal{}, connect.NewError(connect.CodeUnavailable, errors.New("cannot verify access token right now, try again later"))
	}
	return p, nil
}

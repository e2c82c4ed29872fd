package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"

	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/logging"
)

// TokenVerifier checks an access token; *authn.Verifier is the real one.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (authn.Principal, error)
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

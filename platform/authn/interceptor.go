package authn

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"

	"github.com/parleyhq/parley/platform/logging"
)

// Interceptor requires a valid access token on every procedure except the public ones (full
// procedure paths such as "/parley.auth.v1.AuthService/Login"), and puts the caller in the context.
// A public procedure that does carry a valid token gets the caller too.
type Interceptor struct {
	verifier *Verifier
	public   map[string]bool
}

// NewInterceptor returns the interceptor; public lists the procedures that need no token.
func NewInterceptor(v *Verifier, public ...string) *Interceptor {
	m := make(map[string]bool, len(public))
	for _, p := range public {
		m[p] = true
	}
	return &Interceptor{verifier: v, public: m}
}

func (i *Interceptor) authenticate(ctx context.Context, procedure, authorization string) (context.Context, error) {
	raw := BearerToken(authorization)
	if raw == "" {
		if i.public[procedure] {
			return ctx, nil
		}
		return nil, errMissingToken()
	}
	p, err := i.verifier.Verify(ctx, raw)
	if err != nil {
		if i.public[procedure] {
			return ctx, nil
		}
		if errors.Is(err, ErrInvalidToken) {
			return nil, connect.NewError(connect.CodeUnauthenticated, err)
		}
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("cannot verify access token right now"))
	}
	logging.AddAttrs(ctx, slog.String("user", p.UserID))
	return WithPrincipal(ctx, p), nil
}

// WrapUnary implements connect.Interceptor.
func (i *Interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		ctx, err := i.authenticate(ctx, req.Spec().Procedure, req.Header().Get("Authorization"))
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient implements connect.Interceptor.
func (i *Interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements connect.Interceptor.
func (i *Interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := i.authenticate(ctx, conn.Spec().Procedure, conn.RequestHeader().Get("Authorization"))
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}

// ForwardToken is a client interceptor that sends the caller's access token on outgoing calls, so
// the callee authorises the same user (service-to-service calls made on a user's behalf).
func ForwardToken() connect.Interceptor {
	return forwardToken{}
}

type forwardToken struct{}

func (forwardToken) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if p, ok := FromContext(ctx); ok && req.Spec().IsClient && req.Header().Get("Authorization") == "" {
			req.Header().Set("Authorization", "Bearer "+p.Token)
		}
		return next(ctx, req)
	}
}

func (forwardToken) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if p, ok := FromContext(ctx); ok {
			conn.RequestHeader().Set("Authorization", "Bearer "+p.Token)
		}
		return conn
	}
}

func (forwardToken) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// SendInternalToken is a client interceptor that sends token (INTERNAL_API_TOKEN) in
// InternalTokenHeader on every call, for a peer's internal procedures: on calls made for no user,
// and beside a user's forwarded token (ForwardToken) on calls made for one. An empty token sends
// nothing (internal calls are off).
func SendInternalToken(token string) connect.Interceptor {
	return internalToken{token: token}
}

// SendInternalTokenWithoutUser is SendInternalToken on calls whose context carries no user only:
// a call made for a user goes with that user's forwarded token alone, so the peer applies that
// user's rules rather than a service's.
func SendInternalTokenWithoutUser(token string) connect.Interceptor {
	return internalToken{token: token, withoutUserOnly: true}
}

type internalToken struct {
	token           string
	withoutUserOnly bool
}

// sends reports whether a call made with ctx carries the token.
func (t internalToken) sends(ctx context.Context) bool {
	if t.token == "" {
		return false
	}
	_, forUser := FromContext(ctx)
	return !t.withoutUserOnly || !forUser
}

func (t internalToken) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient && t.sends(ctx) {
			req.Header().Set(InternalTokenHeader, t.token)
		}
		return next(ctx, req)
	}
}

func (t internalToken) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if t.sends(ctx) {
			conn.RequestHeader().Set(InternalTokenHeader, t.token)
		}
		return conn
	}
}

func (internalToken) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

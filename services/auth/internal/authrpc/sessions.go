package authrpc

import (
	"context"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/server"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

// request is what the handlers read of any Connect request.
type request interface {
	Header() http.Header
	Peer() connect.Peer
}

// client is the device the request comes from: its User-Agent and network (ClientKey).
func (h *Handler) client(req request) auth.Client {
	return auth.Client{
		UserAgent: req.Header().Get("User-Agent"),
		Network:   ClientKey(req.Header(), req.Peer().Addr, h.trustedProxies),
	}
}

// withClient attaches the device the request comes from, for the session a sign-in creates.
// A sign-in that is throttled too (Login, CompleteTwoFactor) attaches h.client's result itself
// and passes its Network as the throttle's client key.
func (h *Handler) withClient(ctx context.Context, req request) context.Context {
	return auth.WithClient(ctx, h.client(req))
}

// ListSessions implements authv1connect.AuthServiceHandler.
func (h *Handler) ListSessions(ctx context.Context, _ *connect.Request[authv1.ListSessionsRequest]) (*connect.Response[authv1.ListSessionsResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*authv1.ListSessionsResponse, error) {
		p, _ := authn.FromContext(ctx)
		sessions, err := h.svc.ListSessions(ctx, me, p.SessionID)
		if err != nil {
			return nil, err
		}
		return &authv1.ListSessionsResponse{Sessions: server.Protos(sessions, sessionProto)}, nil
	})
}

func sessionProto(s auth.Session) *authv1.Session {
	return &authv1.Session{
		SessionId:     s.ID,
		Method:        s.Method,
		CreatedAt:     timestamppb.New(s.CreatedAt),
		LastUsedAt:    timestamppb.New(s.LastUsedAt),
		ExpiresAt:     timestamppb.New(s.ExpiresAt),
		UserAgent:     s.UserAgent,
		ClientNetwork: s.ClientNetwork,
		Current:       s.Current,
	}
}

// RevokeSession implements authv1connect.AuthServiceHandler.
func (h *Handler) RevokeSession(ctx context.Context, req *connect.Request[authv1.RevokeSessionRequest]) (*connect.Response[authv1.RevokeSessionResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*authv1.RevokeSessionResponse, error) {
		return &authv1.RevokeSessionResponse{}, h.svc.RevokeSession(ctx, me, req.Msg.GetSessionId())
	})
}

// RevokeOtherSessions implements authv1connect.AuthServiceHandler.
func (h *Handler) RevokeOtherSessions(ctx context.Context, _ *connect.Request[authv1.RevokeOtherSessionsRequest]) (*connect.Response[authv1.RevokeOtherSessionsResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*authv1.RevokeOtherSessionsResponse, error) {
		p, _ := authn.FromContext(ctx)
		n, err := h.svc.RevokeOtherSessions(ctx, me, p.SessionID)
		if err != nil {
			return nil, err
		}
		return &authv1.RevokeOtherSessionsResponse{RevokedSessions: int32(n)}, nil // a person's sessions, far below 2^31
	})
}

// ChangePassword implements authv1connect.AuthServiceHandler.
func (h *Handler) ChangePassword(ctx context.Context, req *connect.Request[authv1.ChangePasswordRequest]) (*connect.Response[authv1.ChangePasswordResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*authv1.ChangePasswordResponse, error) {
		p, _ := authn.FromContext(ctx)
		client := ClientKey(req.Header(), req.Peer().Addr, h.trustedProxies)
		n, err := h.svc.ChangePassword(ctx, me, p.SessionID, req.Msg.GetCurrentPassword(), req.Msg.GetNewPassword(), client)
		if err != nil {
			return nil, err
		}
		return &authv1.ChangePasswordResponse{RevokedSessions: int32(n)}, nil // a person's sessions, far below 2^31
	})
}

// RequestPasswordReset implements authv1connect.AuthServiceHandler.
func (h *Handler) RequestPasswordReset(ctx context.Context, req *connect.Request[authv1.RequestPasswordResetRequest]) (*connect.Response[authv1.RequestPasswordResetResponse], error) {
	client := ClientKey(req.Header(), req.Peer().Addr, h.trustedProxies)
	return server.Reply(&authv1.RequestPasswordResetResponse{}, h.svc.RequestPasswordReset(ctx, req.Msg.GetEmail(), client))
}

// ResetPassword implements authv1connect.AuthServiceHandler.
func (h *Handler) ResetPassword(ctx context.Context, req *connect.Request[authv1.ResetPasswordRequest]) (*connect.Response[authv1.ResetPasswordResponse], error) {
	return server.Reply(&authv1.ResetPasswordResponse{}, h.svc.ResetPassword(ctx, req.Msg.GetResetToken(), req.Msg.GetNewPassword()))
}

// VerifyEmail implements authv1connect.AuthServiceHandler.
func (h *Handler) VerifyEmail(ctx context.Context, req *connect.Request[authv1.VerifyEmailRequest]) (*connect.Response[authv1.VerifyEmailResponse], error) {
	v, err := h.svc.VerifyEmail(ctx, req.Msg.GetVerificationToken())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&authv1.VerifyEmailResponse{UserId: v.UserID, Email: v.Email}), nil
}

// ResendVerificationEmail implements authv1connect.AuthServiceHandler.
func (h *Handler) ResendVerificationEmail(ctx context.Context, _ *connect.Request[authv1.ResendVerificationEmailRequest]) (*connect.Response[authv1.ResendVerificationEmailResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*authv1.ResendVerificationEmailResponse, error) {
		return &authv1.ResendVerificationEmailResponse{}, h.svc.ResendVerificationEmail(ctx, me)
	})
}

// Package authrpc serves parley.auth.v1.AuthService over Connect, gRPC and gRPC-Web, and the JWKS
// document other services verify access tokens with.
package authrpc

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/parleyhq/parley/contracts/access"
	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1/authv1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/platform/telemetry"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

// PublicProcedures need no access token: they are how a person gets one (Logout is authorised by
// the refresh token it presents, so it works after the access token expired). They are the ones
// marked in auth.proto; contracts/access reads the marks.
var PublicProcedures = access.Unauthenticated(authv1connect.AuthServiceName)

// maxRequestBytes bounds a request message: every auth request is a few short strings.
const maxRequestBytes = 64 << 10

// Handler implements authv1connect.AuthServiceHandler over the domain service.
type Handler struct {
	svc            *auth.Service
	trustedProxies []netip.Prefix
}

var _ authv1connect.AuthServiceHandler = (*Handler)(nil)

// NewHandler returns the Connect handler for svc and the path to mount it on. Every procedure but
// the public ones requires a valid access token (verified with verifier); errors are mapped with
// ErrorCodes. trustedProxies are the proxies in front of the gateway (see ClientKey). tel measures
// and traces the calls (nil: neither).
func NewHandler(svc *auth.Service, verifier *authn.Verifier, logger *slog.Logger, trustedProxies []netip.Prefix, tel *telemetry.Telemetry) (string, http.Handler) {
	opts := server.HandlerOptions(logger, ErrorCodes, tel.ServerInterceptor(), authn.NewInterceptor(verifier, PublicProcedures...))
	opts = append(opts, connect.WithReadMaxBytes(maxRequestBytes))
	return authv1connect.NewAuthServiceHandler(&Handler{svc: svc, trustedProxies: trustedProxies}, opts...)
}

// Register implements authv1connect.AuthServiceHandler.
func (h *Handler) Register(ctx context.Context, req *connect.Request[authv1.RegisterRequest]) (*connect.Response[authv1.RegisterResponse], error) {
	userID, tokens, err := h.svc.Register(h.withClient(ctx, req), req.Msg.GetEmail(), req.Msg.GetPassword(), req.Msg.GetNickname())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&authv1.RegisterResponse{UserId: userID, Tokens: tokensProto(tokens)}), nil
}

// Login implements authv1connect.AuthServiceHandler.
func (h *Handler) Login(ctx context.Context, req *connect.Request[authv1.LoginRequest]) (*connect.Response[authv1.LoginResponse], error) {
	client := h.client(req)
	userID, tokens, err := h.svc.Login(auth.WithClient(ctx, client), req.Msg.GetEmail(), req.Msg.GetPassword(), client.Network)
	if challenge, ok := secondFactor(err); ok {
		return connect.NewResponse(&authv1.LoginResponse{SecondFactor: challenge}), nil
	}
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&authv1.LoginResponse{UserId: userID, Tokens: tokensProto(tokens)}), nil
}

// RefreshToken implements authv1connect.AuthServiceHandler.
func (h *Handler) RefreshToken(ctx context.Context, req *connect.Request[authv1.RefreshTokenRequest]) (*connect.Response[authv1.RefreshTokenResponse], error) {
	userID, tokens, err := h.svc.RefreshToken(ctx, req.Msg.GetRefreshToken())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&authv1.RefreshTokenResponse{UserId: userID, Tokens: tokensProto(tokens)}), nil
}

// Logout implements authv1connect.AuthServiceHandler.
func (h *Handler) Logout(ctx context.Context, req *connect.Request[authv1.LogoutRequest]) (*connect.Response[authv1.LogoutResponse], error) {
	return server.Reply(&authv1.LogoutResponse{}, h.svc.Logout(ctx, req.Msg.GetRefreshToken()))
}

// GetMe implements authv1connect.AuthServiceHandler.
func (h *Handler) GetMe(ctx context.Context, _ *connect.Request[authv1.GetMeRequest]) (*connect.Response[authv1.GetMeResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*authv1.GetMeResponse, error) {
		acc, err := h.svc.GetMe(ctx, me)
		if err != nil {
			return nil, err
		}
		return &authv1.GetMeResponse{Account: &authv1.Account{
			UserId:                 acc.UserID,
			Email:                  acc.Email,
			EmailVerified:          acc.EmailVerified,
			CreatedAt:              timestamppb.New(acc.CreatedAt),
			TotpEnabled:            acc.TOTPEnabled,
			RecoveryCodesRemaining: int32(acc.RecoveryCodesRemaining), // at most auth.RecoveryCodeCount
		}}, nil
	})
}

// ListOAuthProviders implements authv1connect.AuthServiceHandler.
func (h *Handler) ListOAuthProviders(context.Context, *connect.Request[authv1.ListOAuthProvidersRequest]) (*connect.Response[authv1.ListOAuthProvidersResponse], error) {
	return connect.NewResponse(&authv1.ListOAuthProvidersResponse{Providers: server.Protos(h.svc.OAuthProviders(), providerProto)}), nil
}

func providerProto(p auth.ProviderInfo) *authv1.OAuthProvider {
	return &authv1.OAuthProvider{Id: p.ID, DisplayName: p.DisplayName}
}

// BeginOAuth implements authv1connect.AuthServiceHandler.
func (h *Handler) BeginOAuth(ctx context.Context, req *connect.Request[authv1.BeginOAuthRequest]) (*connect.Response[authv1.BeginOAuthResponse], error) {
	url, state, err := h.svc.BeginOAuth(ctx, req.Msg.GetProviderId(), req.Msg.GetRedirectUri())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&authv1.BeginOAuthResponse{AuthorizationUrl: url, State: state}), nil
}

// CompleteOAuth implements authv1connect.AuthServiceHandler.
func (h *Handler) CompleteOAuth(ctx context.Context, req *connect.Request[authv1.CompleteOAuthRequest]) (*connect.Response[authv1.CompleteOAuthResponse], error) {
	userID, tokens, created, err := h.svc.CompleteOAuth(h.withClient(ctx, req), req.Msg.GetState(), req.Msg.GetCode(), req.Msg.GetNickname())
	if challenge, ok := secondFactor(err); ok {
		return connect.NewResponse(&authv1.CompleteOAuthResponse{SecondFactor: challenge}), nil
	}
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&authv1.CompleteOAuthResponse{UserId: userID, Tokens: tokensProto(tokens), Created: created}), nil
}

func tokensProto(t auth.Tokens) *authv1.Tokens {
	return &authv1.Tokens{
		AccessToken:           t.AccessToken,
		AccessTokenExpiresAt:  timestamppb.New(t.AccessTokenExpiresAt),
		RefreshToken:          t.RefreshToken,
		RefreshTokenExpiresAt: timestamppb.New(t.RefreshTokenExpiresAt),
		TokenType:             "Bearer",
	}
}

package authrpc

import (
	"context"
	"errors"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/server"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

// secondFactor converts a sign-in's *auth.SecondFactorRequired into the response's challenge;
// ok is false for any other error.
func secondFactor(err error) (*authv1.SecondFactorChallenge, bool) {
	var sf *auth.SecondFactorRequired
	if !errors.As(err, &sf) {
		return nil, false
	}
	return &authv1.SecondFactorChallenge{
		Challenge: sf.Challenge,
		ExpiresAt: timestamppb.New(sf.ExpiresAt),
		Methods:   sf.Methods,
	}, true
}

// EnrollTOTP implements authv1connect.AuthServiceHandler.
func (h *Handler) EnrollTOTP(ctx context.Context, _ *connect.Request[authv1.EnrollTOTPRequest]) (*connect.Response[authv1.EnrollTOTPResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*authv1.EnrollTOTPResponse, error) {
		e, err := h.svc.EnrollTOTP(ctx, me)
		if err != nil {
			return nil, err
		}
		return &authv1.EnrollTOTPResponse{Secret: e.Secret, OtpauthUri: e.URI}, nil
	})
}

// ConfirmTOTP implements authv1connect.AuthServiceHandler.
func (h *Handler) ConfirmTOTP(ctx context.Context, req *connect.Request[authv1.ConfirmTOTPRequest]) (*connect.Response[authv1.ConfirmTOTPResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*authv1.ConfirmTOTPResponse, error) {
		codes, err := h.svc.ConfirmTOTP(ctx, me, req.Msg.GetCode())
		if err != nil {
			return nil, err
		}
		return &authv1.ConfirmTOTPResponse{RecoveryCodes: codes}, nil
	})
}

// DisableTOTP implements authv1connect.AuthServiceHandler.
func (h *Handler) DisableTOTP(ctx context.Context, req *connect.Request[authv1.DisableTOTPRequest]) (*connect.Response[authv1.DisableTOTPResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*authv1.DisableTOTPResponse, error) {
		client := ClientKey(req.Header(), req.Peer().Addr, h.trustedProxies)
		return &authv1.DisableTOTPResponse{},
			h.svc.DisableTOTP(ctx, me, req.Msg.GetCurrentPassword(), req.Msg.GetCode(), req.Msg.GetRecoveryCode(), client)
	})
}

// CompleteTwoFactor implements authv1connect.AuthServiceHandler.
func (h *Handler) CompleteTwoFactor(ctx context.Context, req *connect.Request[authv1.CompleteTwoFactorRequest]) (*connect.Response[authv1.CompleteTwoFactorResponse], error) {
	client := h.client(req)
	userID, tokens, left, err := h.svc.CompleteTwoFactor(auth.WithClient(ctx, client), req.Msg.GetChallenge(), req.Msg.GetCode(), req.Msg.GetRecoveryCode(), client.Network)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&authv1.CompleteTwoFactorResponse{
		UserId: userID, Tokens: tokensProto(tokens), RecoveryCodesRemaining: int32(left), // at most RecoveryCodeCount
	}), nil
}

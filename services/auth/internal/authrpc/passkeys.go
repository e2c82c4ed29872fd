package authrpc

import (
	"context"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/server"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

// BeginPasskeyRegistration implements authv1connect.AuthServiceHandler.
func (h *Handler) BeginPasskeyRegistration(ctx context.Context, _ *connect.Request[authv1.BeginPasskeyRegistrationRequest]) (*connect.Response[authv1.BeginPasskeyRegistrationResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*authv1.BeginPasskeyRegistrationResponse, error) {
		id, options, err := h.svc.BeginPasskeyRegistration(ctx, me)
		if err != nil {
			return nil, err
		}
		return &authv1.BeginPasskeyRegistrationResponse{CeremonyId: id, OptionsJson: string(options)}, nil
	})
}

// FinishPasskeyRegistration implements authv1connect.AuthServiceHandler.
func (h *Handler) FinishPasskeyRegistration(ctx context.Context, req *connect.Request[authv1.FinishPasskeyRegistrationRequest]) (*connect.Response[authv1.FinishPasskeyRegistrationResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*authv1.FinishPasskeyRegistrationResponse, error) {
		p, err := h.svc.FinishPasskeyRegistration(ctx, me, req.Msg.GetCeremonyId(), req.Msg.GetCredentialJson(), req.Msg.GetName())
		if err != nil {
			return nil, err
		}
		return &authv1.FinishPasskeyRegistrationResponse{Passkey: passkeyProto(p)}, nil
	})
}

// ListPasskeys implements authv1connect.AuthServiceHandler.
func (h *Handler) ListPasskeys(ctx context.Context, _ *connect.Request[authv1.ListPasskeysRequest]) (*connect.Response[authv1.ListPasskeysResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*authv1.ListPasskeysResponse, error) {
		list, err := h.svc.ListPasskeys(ctx, me)
		if err != nil {
			return nil, err
		}
		return &authv1.ListPasskeysResponse{Passkeys: server.Protos(list, passkeyProto)}, nil
	})
}

// DeletePasskey implements authv1connect.AuthServiceHandler.
func (h *Handler) DeletePasskey(ctx context.Context, req *connect.Request[authv1.DeletePasskeyRequest]) (*connect.Response[authv1.DeletePasskeyResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*authv1.DeletePasskeyResponse, error) {
		return &authv1.DeletePasskeyResponse{}, h.svc.DeletePasskey(ctx, me, req.Msg.GetPasskeyId())
	})
}

// BeginPasskeyLogin implements authv1connect.AuthServiceHandler.
func (h *Handler) BeginPasskeyLogin(ctx context.Context, _ *connect.Request[authv1.BeginPasskeyLoginRequest]) (*connect.Response[authv1.BeginPasskeyLoginResponse], error) {
	id, options, err := h.svc.BeginPasskeyLogin(ctx)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&authv1.BeginPasskeyLoginResponse{CeremonyId: id, OptionsJson: string(options)}), nil
}

// FinishPasskeyLogin implements authv1connect.AuthServiceHandler.
func (h *Handler) FinishPasskeyLogin(ctx context.Context, req *connect.Request[authv1.FinishPasskeyLoginRequest]) (*connect.Response[authv1.FinishPasskeyLoginResponse], error) {
	userID, tokens, err := h.svc.FinishPasskeyLogin(h.withClient(ctx, req), req.Msg.GetCeremonyId(), req.Msg.GetCredentialJson())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&authv1.FinishPasskeyLoginResponse{UserId: userID, Tokens: tokensProto(tokens)}), nil
}

func passkeyProto(p auth.Passkey) *authv1.Passkey {
	out := &authv1.Passkey{
		PasskeyId:  p.ID,
		Name:       p.Name,
		Transports: p.Transports,
		CreatedAt:  timestamppb.New(p.CreatedAt),
	}
	if aaguid, err := uuid.FromBytes(p.AAGUID); err == nil {
		out.Aaguid = aaguid.String()
	}
	if !p.LastUsedAt.IsZero() {
		out.LastUsedAt = timestamppb.New(p.LastUsedAt)
	}
	return out
}

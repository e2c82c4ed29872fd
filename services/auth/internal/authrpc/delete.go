package authrpc

import (
	"context"

	"connectrpc.com/connect"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/server"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

// DeleteAccount implements authv1connect.AuthServiceHandler.
func (h *Handler) DeleteAccount(ctx context.Context, req *connect.Request[authv1.DeleteAccountRequest]) (*connect.Response[authv1.DeleteAccountResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*authv1.DeleteAccountResponse, error) {
		p, _ := authn.FromContext(ctx)
		client := ClientKey(req.Header(), req.Peer().Addr, h.trustedProxies)
		return &authv1.DeleteAccountResponse{}, h.svc.DeleteAccount(ctx, me, p.SessionID,
			auth.Reauth{Password: req.Msg.GetPassword(), Code: req.Msg.GetCode(), RecoveryCode: req.Msg.GetRecoveryCode()}, client)
	})
}

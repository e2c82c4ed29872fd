package authrpc_test

import (
	"context"
	"testing"

	"connectrpc.com/connect"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/platform/rpctest"

	"github.com/parleyhq/parley/services/auth/internal/authrpc"
)

// TestUserProceduresNeedAUser: every procedure that acts as a user answers Unauthenticated by
// itself when the context names no user (authn.RequireUser), so its use case never sees an empty
// user id. Over the wire the interceptor refuses such calls first (the *OverConnect tests); here
// the handlers are called directly, on a Handler without a service, which a call that got through
// would dereference and panic on.
func TestUserProceduresNeedAUser(t *testing.T) {
	h := &authrpc.Handler{}
	ctx := context.Background()
	calls := map[string]func() error{
		"GetMe": func() error {
			_, err := h.GetMe(ctx, connect.NewRequest(&authv1.GetMeRequest{}))
			return err
		},
		"ListSessions": func() error {
			_, err := h.ListSessions(ctx, connect.NewRequest(&authv1.ListSessionsRequest{}))
			return err
		},
		"RevokeSession": func() error {
			_, err := h.RevokeSession(ctx, connect.NewRequest(&authv1.RevokeSessionRequest{}))
			return err
		},
		"RevokeOtherSessions": func() error {
			_, err := h.RevokeOtherSessions(ctx, connect.NewRequest(&authv1.RevokeOtherSessionsRequest{}))
			return err
		},
		"ChangePassword": func() error {
			_, err := h.ChangePassword(ctx, connect.NewRequest(&authv1.ChangePasswordRequest{}))
			return err
		},
		"ResendVerificationEmail": func() error {
			_, err := h.ResendVerificationEmail(ctx, connect.NewRequest(&authv1.ResendVerificationEmailRequest{}))
			return err
		},
		"EnrollTOTP": func() error {
			_, err := h.EnrollTOTP(ctx, connect.NewRequest(&authv1.EnrollTOTPRequest{}))
			return err
		},
		"ConfirmTOTP": func() error {
			_, err := h.ConfirmTOTP(ctx, connect.NewRequest(&authv1.ConfirmTOTPRequest{}))
			return err
		},
		"DisableTOTP": func() error {
			_, err := h.DisableTOTP(ctx, connect.NewRequest(&authv1.DisableTOTPRequest{}))
			return err
		},
		"BeginPasskeyRegistration": func() error {
			_, err := h.BeginPasskeyRegistration(ctx, connect.NewRequest(&authv1.BeginPasskeyRegistrationRequest{}))
			return err
		},
		"FinishPasskeyRegistration": func() error {
			_, err := h.FinishPasskeyRegistration(ctx, connect.NewRequest(&authv1.FinishPasskeyRegistrationRequest{}))
			return err
		},
		"ListPasskeys": func() error {
			_, err := h.ListPasskeys(ctx, connect.NewRequest(&authv1.ListPasskeysRequest{}))
			return err
		},
		"DeletePasskey": func() error {
			_, err := h.DeletePasskey(ctx, connect.NewRequest(&authv1.DeletePasskeyRequest{}))
			return err
		},
		"DeleteAccount": func() error {
			_, err := h.DeleteAccount(ctx, connect.NewRequest(&authv1.DeleteAccountRequest{}))
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			rpctest.WantCode(t, call(), connect.CodeUnauthenticated, "missing access token")
		})
	}
}

package chatclient_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/rpctest"
	"github.com/parleyhq/parley/services/media/internal/chatclient"
)

// The chat service's refusals become media's own errors (server.PeerError); its *connect.Error
// never reaches media's caller, and a caller that went away gets its own context's error.
func TestChatServiceRefusalsBecomeMediaErrors(t *testing.T) {
	for _, c := range []struct {
		code connect.Code
		want error // nil: none of the kinds (Internal for media's caller)
	}{
		{connect.CodeUnauthenticated, domainerr.ErrUnauthenticated},
		{connect.CodeUnavailable, domainerr.ErrUnavailable},
		{connect.CodeResourceExhausted, domainerr.ErrUnavailable},
		{connect.CodePermissionDenied, nil},
	} {
		t.Run(c.code.String(), func(t *testing.T) {
			// The chat service lives in another module: a stand-in refuses the call.
			peer := rpctest.Refusing(t, connect.NewError(c.code, errors.New("chat detail")))
			client := chatclient.New(nil, peer, "", nil, 0, slog.New(slog.DiscardHandler))
			acc, err := client.Access(context.Background(), uuid.NewString(), uuid.NewString())
			_, top := err.(*connect.Error) //nolint:errorlint // only a top-level one would reach media's caller
			switch {
			case acc.Participant || err == nil || top:
				t.Fatalf("Access = %+v, %v; want no access and media's own error", acc, err)
			case c.want != nil && !errors.Is(err, c.want):
				t.Fatalf("Access = %v; want %v", err, c.want)
			case c.want == nil && (errors.Is(err, domainerr.ErrUnauthenticated) || errors.Is(err, domainerr.ErrUnavailable)):
				t.Fatalf("Access = %v; want an internal error", err)
			}
		})
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	client := chatclient.New(nil, "http://127.0.0.1:1", "", nil, time.Minute, slog.New(slog.DiscardHandler))
	if acc, err := client.Access(ctx, uuid.NewString(), uuid.NewString()); acc.Participant || !errors.Is(err, context.Canceled) {
		t.Fatalf("Access for a caller that went away = %+v, %v; want context.Canceled", acc, err)
	}
}

package friendclient_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/rpctest"
	"github.com/parleyhq/parley/services/chat/internal/friendclient"
)

// A friend service nobody answers for is Unavailable, never "friends". (Answers and forwarded
// tokens are tested through the chat handler in chatrpc, against a stand-in server.)
func TestUnreachableFriendServiceIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	c := friendclient.New(nil, "http://"+addr, time.Second)
	friends, err := c.AreFriends(context.Background(), uuid.NewString(), uuid.NewString())
	if friends || !errors.Is(err, domainerr.ErrUnavailable) {
		t.Fatalf("AreFriends against a closed port = %v, %v; want false, ErrUnavailable", friends, err)
	}
}

// The friend service's refusals become chat's own errors (server.PeerError); its *connect.Error
// never reaches chat's caller, and a caller that went away gets its own context's error.
func TestFriendServiceRefusalsBecomeChatErrors(t *testing.T) {
	for _, c := range []struct {
		code connect.Code
		want error // nil: none of the kinds (Internal for chat's caller)
	}{
		{connect.CodeUnauthenticated, domainerr.ErrUnauthenticated},
		{connect.CodeResourceExhausted, domainerr.ErrUnavailable},
		{connect.CodePermissionDenied, nil},
	} {
		t.Run(c.code.String(), func(t *testing.T) {
			// The friend service lives in another module: a stand-in refuses the call.
			client := friendclient.New(nil, rpctest.Refusing(t, connect.NewError(c.code, errors.New("friend detail"))), time.Second)
			friends, err := client.AreFriends(context.Background(), uuid.NewString(), uuid.NewString())
			_, top := err.(*connect.Error) //nolint:errorlint // only a top-level one would reach chat's caller
			switch {
			case friends || err == nil || top:
				t.Fatalf("AreFriends = %v, %v; want false and chat's own error", friends, err)
			case c.want != nil && !errors.Is(err, c.want):
				t.Fatalf("AreFriends = %v; want %v", err, c.want)
			case c.want == nil && (errors.Is(err, domainerr.ErrUnauthenticated) || errors.Is(err, domainerr.ErrUnavailable)):
				t.Fatalf("AreFriends = %v; want an internal error", err)
			}
		})
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	client := friendclient.New(nil, "http://127.0.0.1:1", time.Second)
	if friends, err := client.AreFriends(ctx, uuid.NewString(), uuid.NewString()); friends || !errors.Is(err, context.Canceled) {
		t.Fatalf("AreFriends for a caller that went away = %v, %v; want context.Canceled", friends, err)
	}
}

package authn_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/parleyhq/parley/platform/authn"
)

// What a peer receives from a client with ForwardToken and each way of sending the internal
// token: a call made for a user, and one made for no user.
func TestInternalTokenInterceptors(t *testing.T) {
	type seen struct{ authorization, internal string }
	var got seen
	mux := http.NewServeMux()
	mux.Handle("/test.v1.Peer/Call", connect.NewUnaryHandler("/test.v1.Peer/Call",
		func(_ context.Context, req *connect.Request[emptypb.Empty]) (*connect.Response[emptypb.Empty], error) {
			got = seen{req.Header().Get("Authorization"), req.Header().Get(authn.InternalTokenHeader)}
			return connect.NewResponse(&emptypb.Empty{}), nil
		}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	forUser := authn.WithPrincipal(context.Background(), authn.Principal{UserID: "u1", Token: "user-token"})
	forNoUser := context.Background()
	for _, c := range []struct {
		name                   string
		internal               connect.Interceptor
		wantForUser, wantNoone seen
	}{
		{"SendInternalToken", authn.SendInternalToken("secret"),
			seen{"Bearer user-token", "secret"}, seen{"", "secret"}},
		{"SendInternalTokenWithoutUser", authn.SendInternalTokenWithoutUser("secret"),
			seen{"Bearer user-token", ""}, seen{"", "secret"}},
		{"an empty token", authn.SendInternalToken(""),
			seen{"Bearer user-token", ""}, seen{"", ""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			client := connect.NewClient[emptypb.Empty, emptypb.Empty](srv.Client(), srv.URL+"/test.v1.Peer/Call",
				connect.WithInterceptors(authn.ForwardToken(), c.internal))
			for _, call := range []struct {
				ctx  context.Context
				want seen
			}{{forUser, c.wantForUser}, {forNoUser, c.wantNoone}} {
				got = seen{}
				if _, err := client.CallUnary(call.ctx, connect.NewRequest(&emptypb.Empty{})); err != nil {
					t.Fatal(err)
				}
				if got != call.want {
					t.Errorf("peer saw %+v, want %+v", got, call.want)
				}
			}
		})
	}
}

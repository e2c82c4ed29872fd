// Package friendclient asks the friend service (parley.friend.v1) whether two users are friends,
// with a generated Connect client over gRPC, forwarding the caller's access token so the friend
// service answers only about its own user's friendships.
package friendclient

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"

	friendv1 "github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1/friendv1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/defaults"
	"github.com/parleyhq/parley/platform/server"
)

// DefaultTimeout bounds one CheckFriendship call.
const DefaultTimeout = 2 * time.Second

// Client implements chat.Friendships.
type Client struct {
	friend  friendv1connect.FriendServiceClient
	timeout time.Duration
}

// New returns a client for the friend service at baseURL ("http://127.0.0.1:8083"). httpClient
// must speak HTTP/2 without TLS (h2c) for gRPC; nil means a suitable default. timeout <= 0 means
// DefaultTimeout.
func New(httpClient connect.HTTPClient, baseURL string, timeout time.Duration) *Client {
	if httpClient == nil {
		httpClient = server.H2CClient()
	}
	timeout = defaults.Positive(timeout, DefaultTimeout)
	return &Client{
		friend:  friendv1connect.NewFriendServiceClient(httpClient, baseURL, connect.WithGRPC(), connect.WithInterceptors(authn.ForwardToken())),
		timeout: timeout,
	}
}

// AreFriends asks CheckFriendship. Any failure is an error, never "friends": a message must not
// reach a stranger because the friend service could not be asked.
func (c *Client) AreFriends(parent context.Context, a, b string) (bool, error) {
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()
	res, err := c.friend.CheckFriendship(ctx, connect.NewRequest(&friendv1.CheckFriendshipRequest{UserAId: a, UserBId: b}))
	if err != nil {
		return false, server.PeerError(parent, "friend", fmt.Errorf("friend CheckFriendship: %w", err))
	}
	return res.Msg.GetAreFriends() && !res.Msg.GetBlocked(), nil
}

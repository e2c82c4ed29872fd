package manifests_test

// The people and clients of the podman fleet's scenarios. The conversation of its rolling
// restart — the senders, the newcomers, the devices and the checks — is the dev stack's
// (devstack/e2e/conversation), the one its replicated end-to-end test (TestReplicas) holds, so
// that both paths to several replicas (podman here, processes there) check the same things.

import (
	"context"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1/authv1connect"
	"github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1/chatv1connect"
	friendv1 "github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1/friendv1connect"
	"github.com/parleyhq/parley/contracts/gen/go/parley/media/v1/mediav1connect"
	"github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1/notificationv1connect"
	profilev1 "github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1/profilev1connect"
	"github.com/parleyhq/parley/devstack/e2e/conversation"
)

// clients are the generated Connect clients pointed at the gateway, as a Go app would use them.
type clients struct {
	conversation.Clients
	media mediav1connect.MediaServiceClient
}

func newClients(gateway string) clients {
	base := gateway + "/api"
	return clients{
		Clients: conversation.Clients{
			Auth:         authv1connect.NewAuthServiceClient(http.DefaultClient, base),
			Profile:      profilev1connect.NewProfileServiceClient(http.DefaultClient, base),
			Friend:       friendv1connect.NewFriendServiceClient(http.DefaultClient, base),
			Chat:         chatv1connect.NewChatServiceClient(http.DefaultClient, base),
			Notification: notificationv1connect.NewNotificationServiceClient(http.DefaultClient, base),
		},
		media: mediav1connect.NewMediaServiceClient(http.DefaultClient, base),
	}
}

// The newcomers of the rolling restart: one every signUpEvery, at most maxNewcomers, since one
// person asks each to be a friend afterwards and the friend service allows 50 requests an hour
// (the pods' restart takes longer than the dev stack processes' in TestReplicas, which signs one
// up every 300 ms).
const (
	signUpEvery  = 500 * time.Millisecond
	maxNewcomers = 40
)

// scenario is the conversation through the gateway's entry point, with the pods' slower pace:
// checks wait 30 s, failing sends and sign-ups are retried for 60 s.
func (c clients) scenario(gateway string) *conversation.Scenario {
	return &conversation.Scenario{Clients: c.Clients, Entry: gateway, Wait: 30 * time.Second, SendRetry: 60 * time.Second,
		SignUpEvery: signUpEvery, MaxNewcomers: maxNewcomers}
}

func msgOf[T any](res *connect.Response[T], err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

// eventually retries f until it succeeds or 30 s pass; events take a moment to flow.
func eventually[T any](t *testing.T, what string, f func() (T, error)) T {
	t.Helper()
	return conversation.Eventually(t, 30*time.Second, what, f)
}

// signUp registers a person through the gateway (auth) and waits until their profile exists
// (UserRegistered through auth's outbox and Kafka to profile).
func signUp(t *testing.T, c clients, prefix string) conversation.Person {
	t.Helper()
	ctx := context.Background()
	nick := conversation.UniqueName(prefix)
	email := nick + "@example.com"
	res, err := c.Auth.Register(ctx, connect.NewRequest(&authv1.RegisterRequest{Email: email, Password: "correct horse battery staple", Nickname: nick}))
	if err != nil {
		t.Fatalf("register %s: %v", nick, err)
	}
	p := conversation.Person{ID: res.Msg.GetUserId(), Token: res.Msg.GetTokens().GetAccessToken(), Email: email, Nickname: nick}
	got := eventually(t, nick+"'s profile", func() (*profilev1.GetProfileResponse, error) {
		return msgOf(c.Profile.GetProfile(ctx, conversation.WithToken(&profilev1.GetProfileRequest{}, p.Token)))
	})
	if got.GetProfile().GetUserId() != p.ID || got.GetProfile().GetNickname() != nick {
		t.Fatalf("%s's profile is %v", nick, got.GetProfile())
	}
	return p
}

// befriend makes a and b friends through the API: a asks (retrying while the friend service has
// not yet heard of b), b accepts.
func befriend(t *testing.T, c clients, a, b conversation.Person) {
	t.Helper()
	ctx := context.Background()
	sent := eventually(t, "friend request", func() (*friendv1.SendFriendRequestResponse, error) {
		return msgOf(c.Friend.SendFriendRequest(ctx, conversation.WithToken(&friendv1.SendFriendRequestRequest{UserId: b.ID}, a.Token)))
	})
	if _, err := c.Friend.AcceptFriendRequest(ctx, conversation.WithToken(&friendv1.AcceptFriendRequestRequest{RequestId: sent.GetRequest().GetRequestId()}, b.Token)); err != nil {
		t.Fatalf("accept: %v", err)
	}
}

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1/authv1connect"
	"github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1/chatv1connect"
	"github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1/friendv1connect"
	"github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1/notificationv1connect"
	profilev1 "github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1/profilev1connect"
	"github.com/parleyhq/parley/devstack/e2e/conversation"
)

// clients are the generated Connect clients pointed at the gateway, as a Go app would use them.
type clients struct {
	auth         authv1connect.AuthServiceClient
	profile      profilev1connect.ProfileServiceClient
	friend       friendv1connect.FriendServiceClient
	chat         chatv1connect.ChatServiceClient
	notification notificationv1connect.NotificationServiceClient
}

func newClients(opts ...connect.ClientOption) clients {
	httpClient := http.DefaultClient
	for _, o := range opts {
		if o == grpcOption {
			httpClient = h2cClient
		}
	}
	base := gatewayURL + "/api"
	return clients{
		auth:         authv1connect.NewAuthServiceClient(httpClient, base, opts...),
		profile:      profilev1connect.NewProfileServiceClient(httpClient, base, opts...),
		friend:       friendv1connect.NewFriendServiceClient(httpClient, base, opts...),
		chat:         chatv1connect.NewChatServiceClient(httpClient, base, opts...),
		notification: notificationv1connect.NewNotificationServiceClient(httpClient, base, opts...),
	}
}

// grpcOption makes the clients speak gRPC (HTTP/2 without TLS) instead of Connect.
var grpcOption = connect.WithGRPC()

var h2cClient = newH2CClient()

// newH2CClient speaks HTTP/2 without TLS (prior knowledge), as gRPC clients do.
func newH2CClient() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: p}}
}

func uniqueName(prefix string) string { return conversation.UniqueName(prefix) }

func withToken[T any](msg *T, token string) *connect.Request[T] {
	return conversation.WithToken(msg, token)
}

func wantCode(t *testing.T, err error, code connect.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %v error, got success", code)
	}
	if got := connect.CodeOf(err); got != code {
		t.Fatalf("want %v error, got %v: %v", code, got, err)
	}
}

// eventually retries f until it succeeds or 15 s pass; events take a moment to flow.
func eventually[T any](t *testing.T, what string, f func() (T, error)) T {
	t.Helper()
	return conversation.Eventually(t, 15*time.Second, what, f)
}

// TestAuthAndProfileWithGeneratedClients walks the scenario with the generated Connect
// clients, once over the Connect protocol and once over gRPC.
func testAuthAndProfileWithGeneratedClients(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []connect.ClientOption
	}{
		{"connect", nil},
		{"grpc", []connect.ClientOption{grpcOption}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := newClients(tc.opts...)
			aliceNick := uniqueName("alice")
			bobNick := uniqueName("bob")
			password := "correct horse battery staple"

			alice, err := c.auth.Register(ctx, connect.NewRequest(&authv1.RegisterRequest{
				Email: "  " + strings.ToUpper(aliceNick) + "@Example.com ", Password: password, Nickname: aliceNick}))
			if err != nil {
				t.Fatalf("register alice: %v", err)
			}
			if _, err := c.auth.Register(ctx, connect.NewRequest(&authv1.RegisterRequest{
				Email: bobNick + "@example.com", Password: password, Nickname: bobNick})); err != nil {
				t.Fatalf("register bob: %v", err)
			}

			// Bad input names the field.
			_, err = c.auth.Register(ctx, connect.NewRequest(&authv1.RegisterRequest{Email: "not-an-email", Password: password, Nickname: uniqueName("x")}))
			wantCode(t, err, connect.CodeInvalidArgument)
			if !strings.Contains(err.Error(), "email") {
				t.Fatalf("error should name the email field: %v", err)
			}
			_, err = c.auth.Register(ctx, connect.NewRequest(&authv1.RegisterRequest{Email: aliceNick + "@example.com", Password: password, Nickname: uniqueName("x")}))
			wantCode(t, err, connect.CodeAlreadyExists)

			// Login: the email is normalised; a wrong password and an unknown email look the same.
			login, err := c.auth.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: aliceNick + "@example.com", Password: password}))
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			if login.Msg.GetUserId() != alice.Msg.GetUserId() {
				t.Fatalf("login user %q, registered %q", login.Msg.GetUserId(), alice.Msg.GetUserId())
			}
			_, errWrong := c.auth.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: aliceNick + "@example.com", Password: "wrong password!"}))
			wantCode(t, errWrong, connect.CodeUnauthenticated)
			_, errUnknown := c.auth.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: uniqueName("nobody") + "@example.com", Password: password}))
			wantCode(t, errUnknown, connect.CodeUnauthenticated)
			var a, b *connect.Error
			if errors.As(errWrong, &a) && errors.As(errUnknown, &b) && a.Message() != b.Message() {
				t.Fatalf("unknown email and wrong password must look alike: %q vs %q", a.Message(), b.Message())
			}

			// Refresh rotates; reusing the old refresh token revokes the whole family.
			first := login.Msg.GetTokens()
			refreshed, err := c.auth.RefreshToken(ctx, connect.NewRequest(&authv1.RefreshTokenRequest{RefreshToken: first.GetRefreshToken()}))
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			second := refreshed.Msg.GetTokens()
			if second.GetRefreshToken() == first.GetRefreshToken() {
				t.Fatal("refresh token was not rotated")
			}
			_, err = c.auth.RefreshToken(ctx, connect.NewRequest(&authv1.RefreshTokenRequest{RefreshToken: first.GetRefreshToken()}))
			wantCode(t, err, connect.CodeUnauthenticated)
			_, err = c.auth.RefreshToken(ctx, connect.NewRequest(&authv1.RefreshTokenRequest{RefreshToken: second.GetRefreshToken()}))
			wantCode(t, err, connect.CodeUnauthenticated) // the family is revoked: the newest token is dead too

			// The revoked session's access token stops working at the gateway once auth's
			// SessionRevoked event has arrived.
			eventually(t, "the revoked session's access token refused", func() (bool, error) {
				_, err := c.auth.GetMe(ctx, withToken(&authv1.GetMeRequest{}, second.GetAccessToken()))
				if connect.CodeOf(err) != connect.CodeUnauthenticated {
					return false, fmt.Errorf("GetMe with a revoked session's token: %w", err)
				}
				return true, nil
			})

			// A new login is a new session.
			again, err := c.auth.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: aliceNick + "@example.com", Password: password}))
			if err != nil {
				t.Fatalf("login again: %v", err)
			}
			token := again.Msg.GetTokens().GetAccessToken()
			me, err := c.auth.GetMe(ctx, withToken(&authv1.GetMeRequest{}, token))
			if err != nil {
				t.Fatalf("get me: %v", err)
			}
			if me.Msg.GetAccount().GetEmail() != aliceNick+"@example.com" {
				t.Fatalf("email not normalised: %q", me.Msg.GetAccount().GetEmail())
			}

			// The profile appears once UserRegistered has flowed through the broker.
			own := eventually(t, "alice's profile", func() (*profilev1.Profile, error) {
				res, err := c.profile.GetProfile(ctx, withToken(&profilev1.GetProfileRequest{}, token))
				if err != nil {
					return nil, err
				}
				return res.Msg.GetProfile(), nil
			})
			if own.GetNickname() != aliceNick || own.GetNicknameStatus() != profilev1.NicknameStatus_NICKNAME_STATUS_CHOSEN {
				t.Fatalf("profile = %v", own)
			}
			eventually(t, "bob's profile", func() (*profilev1.SearchUsersResponse, error) {
				res, err := c.profile.SearchUsers(ctx, withToken(&profilev1.SearchUsersRequest{Query: bobNick}, token))
				if err != nil {
					return nil, err
				}
				if len(res.Msg.GetResults()) == 0 {
					return nil, errors.New("bob not found yet")
				}
				return res.Msg, nil
			})

			// Change the nickname; search finds it by prefix and by a typo.
			newNick := "zed" + aliceNick
			updated, err := c.profile.UpdateProfile(ctx, withToken(&profilev1.UpdateProfileRequest{Nickname: &newNick}, token))
			if err != nil {
				t.Fatalf("update nickname: %v", err)
			}
			if updated.Msg.GetProfile().GetNickname() != newNick {
				t.Fatalf("nickname = %q", updated.Msg.GetProfile().GetNickname())
			}
			prefix, err := c.profile.SearchUsers(ctx, withToken(&profilev1.SearchUsersRequest{Query: newNick[:len(newNick)-3]}, token))
			if err != nil {
				t.Fatalf("search by prefix: %v", err)
			}
			if !containsUser(prefix.Msg, alice.Msg.GetUserId(), profilev1.MatchKind_MATCH_KIND_PREFIX) {
				t.Fatalf("prefix search did not find alice as a prefix match: %v", prefix.Msg)
			}
			typo := newNick[:4] + newNick[5:6] + newNick[4:5] + newNick[6:] // swap two letters
			fuzzy, err := c.profile.SearchUsers(ctx, withToken(&profilev1.SearchUsersRequest{Query: typo}, token))
			if err != nil {
				t.Fatalf("search with a typo: %v", err)
			}
			if !containsUser(fuzzy.Msg, alice.Msg.GetUserId(), profilev1.MatchKind_MATCH_KIND_FUZZY) {
				t.Fatalf("typo search %q did not find %q: %v", typo, newNick, fuzzy.Msg)
			}

			// Another user's profile is public; without a token nothing is.
			other, err := c.profile.GetProfile(ctx, withToken(&profilev1.GetProfileRequest{UserId: alice.Msg.GetUserId()}, token))
			if err != nil || other.Msg.GetProfile().GetNickname() != newNick {
				t.Fatalf("get profile by id: %v %v", other, err)
			}
			_, err = c.profile.GetProfile(ctx, connect.NewRequest(&profilev1.GetProfileRequest{}))
			wantCode(t, err, connect.CodeUnauthenticated)
			_, err = c.auth.GetMe(ctx, withToken(&authv1.GetMeRequest{}, "not.a.token"))
			wantCode(t, err, connect.CodeUnauthenticated)
		})
	}
}

func containsUser(res *profilev1.SearchUsersResponse, userID string, kind profilev1.MatchKind) bool {
	for _, r := range res.GetResults() {
		if r.GetProfile().GetUserId() == userID && r.GetMatch() == kind {
			return true
		}
	}
	return false
}

// TestTakenNicknameIsVisible registers two people asking for the same nickname: the second gets a
// derived nickname and their own profile says so.
func testTakenNicknameIsVisible(t *testing.T) {
	ctx := context.Background()
	c := newClients()
	nick := uniqueName("sam")
	password := "correct horse battery staple"
	first, err := c.auth.Register(ctx, connect.NewRequest(&authv1.RegisterRequest{Email: uniqueName("a") + "@example.com", Password: password, Nickname: nick}))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "first profile", func() (*profilev1.GetProfileResponse, error) {
		return msgOf(c.profile.GetProfile(ctx, withToken(&profilev1.GetProfileRequest{}, first.Msg.GetTokens().GetAccessToken())))
	})
	second, err := c.auth.Register(ctx, connect.NewRequest(&authv1.RegisterRequest{Email: uniqueName("b") + "@example.com", Password: password, Nickname: strings.ToUpper(nick)}))
	if err != nil {
		t.Fatal(err)
	}
	own := eventually(t, "second profile", func() (*profilev1.GetProfileResponse, error) {
		return msgOf(c.profile.GetProfile(ctx, withToken(&profilev1.GetProfileRequest{}, second.Msg.GetTokens().GetAccessToken())))
	}).GetProfile()
	if own.GetNicknameStatus() != profilev1.NicknameStatus_NICKNAME_STATUS_REQUESTED_TAKEN ||
		!strings.EqualFold(own.GetRequestedNickname(), nick) || strings.EqualFold(own.GetNickname(), nick) {
		t.Fatalf("second profile should show the requested nickname was taken: %v", own)
	}
}

func msgOf[T any](res *connect.Response[T], err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

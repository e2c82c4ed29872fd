package friendrpc_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	friendv1 "github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1/friendv1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/rpctest"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/services/friend/internal/friend"
	"github.com/parleyhq/parley/services/friend/internal/frienddb"
	"github.com/parleyhq/parley/services/friend/internal/friendrpc"
	"github.com/parleyhq/parley/services/friend/internal/friendtest"
)

var ctx = context.Background()

type testServer struct {
	pool   *pgxpool.Pool
	tokens *authntest.TokenIssuer
	client friendv1connect.FriendServiceClient
}

// newServer runs the real handler stack (logging, authentication, error mapping) on a fresh
// database behind an HTTP test server, with the generated client.
func newServer(t *testing.T, limits friend.Limits) *testServer {
	t.Helper()
	pool := eventstest.NewDB(t, "friend", frienddb.Migrations)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tokens := authntest.New(t)
	auth := authn.NewInterceptor(tokens.Verifier())
	svc := friend.NewService(frienddb.New(pool, events.NewOutbox("friend")), limits)
	srv := server.New(logger, "127.0.0.1:0")
	srv.Mount(friendv1connect.NewFriendServiceHandler(friendrpc.NewHandler(svc),
		server.HandlerOptions(logger, nil, auth)...))
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &testServer{pool: pool, tokens: tokens, client: friendv1connect.NewFriendServiceClient(hs.Client(), hs.URL)}
}

func as[T any](t *testing.T, s *testServer, userID string, msg *T) *connect.Request[T] {
	t.Helper()
	req := connect.NewRequest(msg)
	req.Header().Set("Authorization", "Bearer "+s.tokens.Token(t, userID))
	return req
}

// setAvatar stores an avatar for userID as the ProfileUpdated consumer does, with a thumbnail URL
// in no scheme the friend service could derive from the file id: lists must pass it on as it is.
func setAvatar(t *testing.T, pool *pgxpool.Pool, userID string) (file, thumb string) {
	t.Helper()
	file = uuid.NewString()
	thumb = "https://media.example/avatars/" + file + "/64?v=2"
	if _, err := pool.Exec(ctx, `UPDATE users SET avatar_file_id = $2, avatar_thumbnail_url = $3, profile_version = 1 WHERE user_id = $1`,
		userID, file, thumb); err != nil {
		t.Fatal(err)
	}
	return file, thumb
}

func TestFriendshipOverRPC(t *testing.T) {
	s := newServer(t, friend.DefaultLimits)
	alice := friendtest.AddUser(t, s.pool, "alice")
	bob := friendtest.AddUser(t, s.pool, "bob")
	bobAvatar, bobThumb := setAvatar(t, s.pool, bob)

	sent, err := s.client.SendFriendRequest(ctx, as(t, s, alice, &friendv1.SendFriendRequestRequest{UserId: bob}))
	if err != nil {
		t.Fatal(err)
	}
	r := sent.Msg.GetRequest()
	if sent.Msg.GetFriend() != nil || r.GetRequestId() == "" || r.GetFromUserId() != alice || r.GetToUserId() != bob ||
		r.GetDirection() != friendv1.FriendRequestDirection_FRIEND_REQUEST_DIRECTION_OUTGOING || r.GetCreatedAt() == nil ||
		r.GetOtherUser().GetUserId() != bob || r.GetOtherUser().GetNickname() != "bob" ||
		r.GetOtherUser().GetAvatarFileId() != bobAvatar || r.GetOtherUser().GetAvatarThumbnailUrl() != bobThumb {
		t.Fatalf("SendFriendRequest = %v", sent.Msg)
	}

	in, err := s.client.ListFriendRequests(ctx, as(t, s, bob, &friendv1.ListFriendRequestsRequest{Direction: friendv1.FriendRequestDirection_FRIEND_REQUEST_DIRECTION_INCOMING}))
	if err != nil {
		t.Fatal(err)
	}
	if got := in.Msg.GetRequests(); len(got) != 1 || got[0].GetRequestId() != r.GetRequestId() ||
		got[0].GetDirection() != friendv1.FriendRequestDirection_FRIEND_REQUEST_DIRECTION_INCOMING ||
		got[0].GetOtherUser().GetNickname() != "alice" || got[0].GetOtherUser().GetAvatarThumbnailUrl() != "" || in.Msg.GetNextPageToken() != "" {
		t.Fatalf("bob's incoming = %v", in.Msg)
	}
	_, err = s.client.ListFriendRequests(ctx, as(t, s, bob, &friendv1.ListFriendRequestsRequest{}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "direction: required")

	_, err = s.client.AcceptFriendRequest(ctx, as(t, s, alice, &friendv1.AcceptFriendRequestRequest{RequestId: r.GetRequestId()}))
	rpctest.WantCode(t, err, connect.CodePermissionDenied, "only its recipient can accept")
	acc, err := s.client.AcceptFriendRequest(ctx, as(t, s, bob, &friendv1.AcceptFriendRequestRequest{RequestId: r.GetRequestId()}))
	if err != nil {
		t.Fatal(err)
	}
	if f := acc.Msg.GetFriend(); f.GetUser().GetUserId() != alice || f.GetFriendsSince() == nil {
		t.Fatalf("AcceptFriendRequest = %v", acc.Msg)
	}

	friends, err := s.client.ListFriends(ctx, as(t, s, alice, &friendv1.ListFriendsRequest{PageSize: 10}))
	if err != nil {
		t.Fatal(err)
	}
	if fs := friends.Msg.GetFriends(); len(fs) != 1 || fs[0].GetUser().GetUserId() != bob || fs[0].GetUser().GetAvatarThumbnailUrl() != bobThumb ||
		!fs[0].GetFriendsSince().AsTime().Equal(acc.Msg.GetFriend().GetFriendsSince().AsTime()) {
		t.Fatalf("alice's friends = %v", friends.Msg)
	}
	_, err = s.client.ListFriends(ctx, as(t, s, alice, &friendv1.ListFriendsRequest{PageSize: 500}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "page_size")

	// A profile change shows in the lists (the consumer writes the same row).
	if _, err := s.pool.Exec(ctx, `UPDATE users SET nickname = 'robert', avatar_file_id = NULL, avatar_thumbnail_url = '', profile_version = 2 WHERE user_id = $1`, bob); err != nil {
		t.Fatal(err)
	}
	friends, err = s.client.ListFriends(ctx, as(t, s, alice, &friendv1.ListFriendsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if u := friends.Msg.GetFriends()[0].GetUser(); u.GetNickname() != "robert" || u.GetAvatarFileId() != "" || u.GetAvatarThumbnailUrl() != "" {
		t.Fatalf("friend after a profile change = %v", u)
	}

	if _, err := s.client.RemoveFriend(ctx, as(t, s, alice, &friendv1.RemoveFriendRequest{UserId: bob})); err != nil {
		t.Fatal(err)
	}
	friends, err = s.client.ListFriends(ctx, as(t, s, bob, &friendv1.ListFriendsRequest{}))
	if err != nil || len(friends.Msg.GetFriends()) != 0 {
		t.Fatalf("bob's friends after the removal = %v, %v", friends, err)
	}
}

func TestCheckFriendship(t *testing.T) {
	s := newServer(t, friend.DefaultLimits)
	alice := friendtest.AddUser(t, s.pool, "alice")
	bob := friendtest.AddUser(t, s.pool, "bob")
	carol := friendtest.AddUser(t, s.pool, "carol")
	// Asking each other makes them friends.
	if _, err := s.client.SendFriendRequest(ctx, as(t, s, alice, &friendv1.SendFriendRequestRequest{UserId: bob})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.SendFriendRequest(ctx, as(t, s, bob, &friendv1.SendFriendRequestRequest{UserId: alice})); err != nil {
		t.Fatal(err)
	}

	check := func(caller, a, b string) (*friendv1.CheckFriendshipResponse, error) {
		res, err := s.client.CheckFriendship(ctx, as(t, s, caller, &friendv1.CheckFriendshipRequest{UserAId: a, UserBId: b}))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}
	for _, caller := range []string{alice, bob} {
		res, err := check(caller, bob, alice)
		if err != nil || !res.GetAreFriends() || res.GetBlocked() {
			t.Fatalf("CheckFriendship by %s = %v, %v; want friends", caller, res, err)
		}
	}
	_, err := check(carol, alice, bob)
	rpctest.WantCode(t, err, connect.CodePermissionDenied, "only one of the two users")
	_, err = check(alice, alice, "x")
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "user_b_id")
	_, err = s.client.CheckFriendship(ctx, connect.NewRequest(&friendv1.CheckFriendshipRequest{UserAId: alice, UserBId: bob}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "access token")

	if _, err := s.client.BlockUser(ctx, as(t, s, bob, &friendv1.BlockUserRequest{UserId: alice})); err != nil {
		t.Fatal(err)
	}
	res, err := check(alice, alice, bob)
	if err != nil || res.GetAreFriends() || !res.GetBlocked() {
		t.Fatalf("CheckFriendship after a block = %v, %v", res, err)
	}
}

func TestBlockingOverRPC(t *testing.T) {
	s := newServer(t, friend.DefaultLimits)
	alice := friendtest.AddUser(t, s.pool, "alice")
	bob := friendtest.AddUser(t, s.pool, "bob")
	bobAvatar, bobThumb := setAvatar(t, s.pool, bob)

	if _, err := s.client.BlockUser(ctx, as(t, s, alice, &friendv1.BlockUserRequest{UserId: bob})); err != nil {
		t.Fatal(err)
	}
	_, err := s.client.BlockUser(ctx, as(t, s, alice, &friendv1.BlockUserRequest{UserId: uuid.NewString()}))
	rpctest.WantCode(t, err, connect.CodeNotFound, "user_id: no user")
	_, err = s.client.SendFriendRequest(ctx, as(t, s, alice, &friendv1.SendFriendRequestRequest{UserId: bob}))
	rpctest.WantCode(t, err, connect.CodeFailedPrecondition, "unblock them first")

	// The blocked user's request appears to succeed.
	sent, err := s.client.SendFriendRequest(ctx, as(t, s, bob, &friendv1.SendFriendRequestRequest{UserId: alice}))
	if err != nil || sent.Msg.GetRequest().GetRequestId() == "" {
		t.Fatalf("blocked user's request = %v, %v; want it to look sent", sent, err)
	}
	in, err := s.client.ListFriendRequests(ctx, as(t, s, alice, &friendv1.ListFriendRequestsRequest{Direction: friendv1.FriendRequestDirection_FRIEND_REQUEST_DIRECTION_INCOMING}))
	if err != nil || len(in.Msg.GetRequests()) != 0 {
		t.Fatalf("the blocker's incoming = %v, %v; want empty", in, err)
	}
	_, err = s.client.DeclineFriendRequest(ctx, as(t, s, alice, &friendv1.DeclineFriendRequestRequest{RequestId: sent.Msg.GetRequest().GetRequestId()}))
	rpctest.WantCode(t, err, connect.CodeNotFound, "request_id")

	blocked, err := s.client.ListBlockedUsers(ctx, as(t, s, alice, &friendv1.ListBlockedUsersRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if bs := blocked.Msg.GetBlockedUsers(); len(bs) != 1 || bs[0].GetUser().GetUserId() != bob || bs[0].GetUser().GetNickname() != "bob" || bs[0].GetBlockedAt() == nil ||
		bs[0].GetUser().GetAvatarFileId() != bobAvatar || bs[0].GetUser().GetAvatarThumbnailUrl() != bobThumb {
		t.Fatalf("ListBlockedUsers = %v", blocked.Msg)
	}
	_, err = s.client.ListBlockedUsers(ctx, as(t, s, alice, &friendv1.ListBlockedUsersRequest{PageToken: "bm9wZQ"}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "page_token")

	if _, err := s.client.UnblockUser(ctx, as(t, s, alice, &friendv1.UnblockUserRequest{UserId: bob})); err != nil {
		t.Fatal(err)
	}
	out, err := s.client.ListFriendRequests(ctx, as(t, s, bob, &friendv1.ListFriendRequestsRequest{Direction: friendv1.FriendRequestDirection_FRIEND_REQUEST_DIRECTION_OUTGOING}))
	if err != nil || len(out.Msg.GetRequests()) != 0 {
		t.Fatalf("bob's outgoing after the unblock = %v, %v; want the request discarded", out, err)
	}
	// Now requests pass again, and can be cancelled.
	sent, err = s.client.SendFriendRequest(ctx, as(t, s, bob, &friendv1.SendFriendRequestRequest{UserId: alice}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.client.CancelFriendRequest(ctx, as(t, s, alice, &friendv1.CancelFriendRequestRequest{RequestId: sent.Msg.GetRequest().GetRequestId()}))
	rpctest.WantCode(t, err, connect.CodePermissionDenied, "DeclineFriendRequest")
	if _, err := s.client.CancelFriendRequest(ctx, as(t, s, bob, &friendv1.CancelFriendRequestRequest{RequestId: sent.Msg.GetRequest().GetRequestId()})); err != nil {
		t.Fatal(err)
	}
}

func TestRequestErrors(t *testing.T) {
	s := newServer(t, friend.Limits{Requests: 1, Window: time.Hour})
	alice := friendtest.AddUser(t, s.pool, "alice")
	bob := friendtest.AddUser(t, s.pool, "bob")
	carol := friendtest.AddUser(t, s.pool, "carol")

	_, err := s.client.SendFriendRequest(ctx, connect.NewRequest(&friendv1.SendFriendRequestRequest{UserId: bob}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "missing access token")
	bad := connect.NewRequest(&friendv1.SendFriendRequestRequest{UserId: bob})
	bad.Header().Set("Authorization", "Bearer not.a.token")
	_, err = s.client.SendFriendRequest(ctx, bad)
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "")
	_, err = s.client.SendFriendRequest(ctx, as(t, s, "service-account", &friendv1.SendFriendRequestRequest{UserId: bob}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "does not name a user")

	_, err = s.client.SendFriendRequest(ctx, as(t, s, alice, &friendv1.SendFriendRequestRequest{UserId: alice}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "user_id: that is your own id")
	_, err = s.client.SendFriendRequest(ctx, as(t, s, alice, &friendv1.SendFriendRequestRequest{UserId: "bob"}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "user_id: must be a UUID")
	_, err = s.client.SendFriendRequest(ctx, as(t, s, alice, &friendv1.SendFriendRequestRequest{UserId: uuid.NewString()}))
	rpctest.WantCode(t, err, connect.CodeNotFound, "user_id: no user")

	sent, err := s.client.SendFriendRequest(ctx, as(t, s, alice, &friendv1.SendFriendRequestRequest{UserId: bob}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.client.SendFriendRequest(ctx, as(t, s, alice, &friendv1.SendFriendRequestRequest{UserId: carol}))
	rpctest.WantCode(t, err, connect.CodeResourceExhausted, "too many friend requests")
	_, err = s.client.AcceptFriendRequest(ctx, as(t, s, carol, &friendv1.AcceptFriendRequestRequest{RequestId: sent.Msg.GetRequest().GetRequestId()}))
	rpctest.WantCode(t, err, connect.CodeNotFound, "no pending friend request")
	_, err = s.client.DeclineFriendRequest(ctx, as(t, s, alice, &friendv1.DeclineFriendRequestRequest{RequestId: sent.Msg.GetRequest().GetRequestId()}))
	rpctest.WantCode(t, err, connect.CodePermissionDenied, "CancelFriendRequest")
	if _, err := s.client.DeclineFriendRequest(ctx, as(t, s, bob, &friendv1.DeclineFriendRequestRequest{RequestId: sent.Msg.GetRequest().GetRequestId()})); err != nil {
		t.Fatal(err)
	}
	_, err = s.client.RemoveFriend(ctx, as(t, s, alice, &friendv1.RemoveFriendRequest{UserId: alice}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "own id")
}

// Package friendrpc serves parley.friend.v1.FriendService: it turns requests into use-case calls
// on friend.Service and domain values into protos. Domain errors map to Connect codes by
// server.DefaultErrorCodes.
package friendrpc

import (
	"context"
	"errors"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	friendv1 "github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1/friendv1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/platform/validate"
	"github.com/parleyhq/parley/services/friend/internal/friend"
)

// Handler implements friendv1connect.FriendServiceHandler.
type Handler struct {
	svc *friend.Service
}

var _ friendv1connect.FriendServiceHandler = (*Handler)(nil)

// NewHandler returns the handler over svc.
func NewHandler(svc *friend.Service) *Handler {
	return &Handler{svc: svc}
}

// caller returns the authenticated user; the authn interceptor has already refused requests
// without a valid token. The subject of Parley's access tokens is the user's UUID.
func caller(ctx context.Context) (string, error) {
	id, err := authn.RequireUser(ctx)
	if err != nil {
		return "", err
	}
	if !validate.IsUUID(id) {
		return "", connect.NewError(connect.CodeUnauthenticated, errors.New("the access token does not name a user"))
	}
	return strings.ToLower(id), nil
}

// SendFriendRequest implements FriendServiceHandler.
func (h *Handler) SendFriendRequest(ctx context.Context, req *connect.Request[friendv1.SendFriendRequestRequest]) (*connect.Response[friendv1.SendFriendRequestResponse], error) {
	return server.ForUser(ctx, caller, func(me string) (*friendv1.SendFriendRequestResponse, error) {
		res, err := h.svc.Send(ctx, me, req.Msg.GetUserId())
		if err != nil {
			return nil, err
		}
		out := &friendv1.SendFriendRequestResponse{}
		if res.Friend != nil {
			out.Friend = h.friendProto(*res.Friend)
		} else {
			out.Request = h.requestProto(*res.Request)
		}
		return out, nil
	})
}

// AcceptFriendRequest implements FriendServiceHandler.
func (h *Handler) AcceptFriendRequest(ctx context.Context, req *connect.Request[friendv1.AcceptFriendRequestRequest]) (*connect.Response[friendv1.AcceptFriendRequestResponse], error) {
	return server.ForUser(ctx, caller, func(me string) (*friendv1.AcceptFriendRequestResponse, error) {
		f, err := h.svc.Accept(ctx, me, req.Msg.GetRequestId())
		if err != nil {
			return nil, err
		}
		return &friendv1.AcceptFriendRequestResponse{Friend: h.friendProto(f)}, nil
	})
}

// DeclineFriendRequest implements FriendServiceHandler.
func (h *Handler) DeclineFriendRequest(ctx context.Context, req *connect.Request[friendv1.DeclineFriendRequestRequest]) (*connect.Response[friendv1.DeclineFriendRequestResponse], error) {
	return server.ForUser(ctx, caller, func(me string) (*friendv1.DeclineFriendRequestResponse, error) {
		return &friendv1.DeclineFriendRequestResponse{}, h.svc.Decline(ctx, me, req.Msg.GetRequestId())
	})
}

// CancelFriendRequest implements FriendServiceHandler.
func (h *Handler) CancelFriendRequest(ctx context.Context, req *connect.Request[friendv1.CancelFriendRequestRequest]) (*connect.Response[friendv1.CancelFriendRequestResponse], error) {
	return server.ForUser(ctx, caller, func(me string) (*friendv1.CancelFriendRequestResponse, error) {
		return &friendv1.CancelFriendRequestResponse{}, h.svc.Cancel(ctx, me, req.Msg.GetRequestId())
	})
}

// RemoveFriend implements FriendServiceHandler.
func (h *Handler) RemoveFriend(ctx context.Context, req *connect.Request[friendv1.RemoveFriendRequest]) (*connect.Response[friendv1.RemoveFriendResponse], error) {
	return server.ForUser(ctx, caller, func(me string) (*friendv1.RemoveFriendResponse, error) {
		return &friendv1.RemoveFriendResponse{}, h.svc.Remove(ctx, me, req.Msg.GetUserId())
	})
}

// BlockUser implements FriendServiceHandler.
func (h *Handler) BlockUser(ctx context.Context, req *connect.Request[friendv1.BlockUserRequest]) (*connect.Response[friendv1.BlockUserResponse], error) {
	return server.ForUser(ctx, caller, func(me string) (*friendv1.BlockUserResponse, error) {
		return &friendv1.BlockUserResponse{}, h.svc.Block(ctx, me, req.Msg.GetUserId())
	})
}

// UnblockUser implements FriendServiceHandler.
func (h *Handler) UnblockUser(ctx context.Context, req *connect.Request[friendv1.UnblockUserRequest]) (*connect.Response[friendv1.UnblockUserResponse], error) {
	return server.ForUser(ctx, caller, func(me string) (*friendv1.UnblockUserResponse, error) {
		return &friendv1.UnblockUserResponse{}, h.svc.Unblock(ctx, me, req.Msg.GetUserId())
	})
}

// ListBlockedUsers implements FriendServiceHandler.
func (h *Handler) ListBlockedUsers(ctx context.Context, req *connect.Request[friendv1.ListBlockedUsersRequest]) (*connect.Response[friendv1.ListBlockedUsersResponse], error) {
	return server.ForUser(ctx, caller, func(me string) (*friendv1.ListBlockedUsersResponse, error) {
		page, err := h.svc.ListBlocked(ctx, me, req.Msg.GetPageSize(), req.Msg.GetPageToken())
		if err != nil {
			return nil, err
		}
		return &friendv1.ListBlockedUsersResponse{BlockedUsers: server.Protos(page.Blocked, h.blockedProto), NextPageToken: page.NextPageToken}, nil
	})
}

// ListFriends implements FriendServiceHandler.
func (h *Handler) ListFriends(ctx context.Context, req *connect.Request[friendv1.ListFriendsRequest]) (*connect.Response[friendv1.ListFriendsResponse], error) {
	return server.ForUser(ctx, caller, func(me string) (*friendv1.ListFriendsResponse, error) {
		page, err := h.svc.ListFriends(ctx, me, req.Msg.GetPageSize(), req.Msg.GetPageToken())
		if err != nil {
			return nil, err
		}
		return &friendv1.ListFriendsResponse{Friends: server.Protos(page.Friends, h.friendProto), NextPageToken: page.NextPageToken}, nil
	})
}

// ListFriendRequests implements FriendServiceHandler.
func (h *Handler) ListFriendRequests(ctx context.Context, req *connect.Request[friendv1.ListFriendRequestsRequest]) (*connect.Response[friendv1.ListFriendRequestsResponse], error) {
	return server.ForUser(ctx, caller, func(me string) (*friendv1.ListFriendRequestsResponse, error) {
		page, err := h.svc.ListRequests(ctx, me, server.KeyOf(directions, req.Msg.GetDirection()), req.Msg.GetPageSize(), req.Msg.GetPageToken())
		if err != nil {
			return nil, err
		}
		return &friendv1.ListFriendRequestsResponse{Requests: server.Protos(page.Requests, h.requestProto), NextPageToken: page.NextPageToken}, nil
	})
}

// CheckFriendship implements FriendServiceHandler. It is internal (the gateway does not route
// it): services call it forwarding their user's access token, and it answers only when that user
// is one of the two.
func (h *Handler) CheckFriendship(ctx context.Context, req *connect.Request[friendv1.CheckFriendshipRequest]) (*connect.Response[friendv1.CheckFriendshipResponse], error) {
	return server.ForUser(ctx, caller, func(me string) (*friendv1.CheckFriendshipResponse, error) {
		rel, err := h.svc.Check(ctx, me, req.Msg.GetUserAId(), req.Msg.GetUserBId())
		if err != nil {
			return nil, err
		}
		return &friendv1.CheckFriendshipResponse{AreFriends: rel.AreFriends, Blocked: rel.Blocked}, nil
	})
}

func (h *Handler) userProto(u friend.UserSummary) *friendv1.UserSummary {
	// The thumbnail URL is the media service's, as ProfileUpdated carried it; never built here.
	return &friendv1.UserSummary{UserId: u.UserID, Nickname: u.Nickname, AvatarFileId: u.AvatarFileID, AvatarThumbnailUrl: u.AvatarThumbnailURL}
}

func (h *Handler) friendProto(f friend.Friend) *friendv1.Friend {
	return &friendv1.Friend{User: h.userProto(f.User), FriendsSince: timestamppb.New(f.Since)}
}

func (h *Handler) blockedProto(b friend.Blocked) *friendv1.BlockedUser {
	return &friendv1.BlockedUser{User: h.userProto(b.User), BlockedAt: timestamppb.New(b.BlockedAt)}
}

func (h *Handler) requestProto(r friend.RequestView) *friendv1.FriendRequest {
	return &friendv1.FriendRequest{
		RequestId:  r.ID,
		FromUserId: r.From,
		ToUserId:   r.To,
		OtherUser:  h.userProto(r.Other),
		Direction:  directions[r.Direction],
		CreatedAt:  timestamppb.New(r.CreatedAt),
	}
}

// directions gives each request direction its proto enum value; a value not listed converts to the
// zero value (UNSPECIFIED), as a proto value not listed converts to 0.
var directions = map[friend.Direction]friendv1.FriendRequestDirection{
	friend.Incoming: friendv1.FriendRequestDirection_FRIEND_REQUEST_DIRECTION_INCOMING,
	friend.Outgoing: friendv1.FriendRequestDirection_FRIEND_REQUEST_DIRECTION_OUTGOING,
}

// Package profilerpc serves parley.profile.v1.ProfileService: it turns requests into use-case calls
// on profile.Service and domain values into protos. Domain errors map to Connect codes by
// server.DefaultErrorCodes.
package profilerpc

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/parleyhq/parley/contracts/access"
	profilev1 "github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1/profilev1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/services/profile/internal/profile"
)

// PublicProcedures need no access token: the ones marked public in profile.proto, read by
// contracts/access.
var PublicProcedures = access.Unauthenticated(profilev1connect.ProfileServiceName)

// Handler implements profilev1connect.ProfileServiceHandler.
type Handler struct {
	svc *profile.Service
}

var _ profilev1connect.ProfileServiceHandler = (*Handler)(nil)

// NewHandler returns the handler over svc.
func NewHandler(svc *profile.Service) *Handler { return &Handler{svc: svc} }

// GetProfile implements ProfileServiceHandler.
func (h *Handler) GetProfile(ctx context.Context, req *connect.Request[profilev1.GetProfileRequest]) (*connect.Response[profilev1.GetProfileResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*profilev1.GetProfileResponse, error) {
		p, err := h.svc.Get(ctx, me, req.Msg.GetUserId())
		if err != nil {
			return nil, err
		}
		return &profilev1.GetProfileResponse{Profile: toProto(p)}, nil
	})
}

// BatchGetProfiles implements ProfileServiceHandler.
func (h *Handler) BatchGetProfiles(ctx context.Context, req *connect.Request[profilev1.BatchGetProfilesRequest]) (*connect.Response[profilev1.BatchGetProfilesResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(string) (*profilev1.BatchGetProfilesResponse, error) {
		ps, err := h.svc.BatchGet(ctx, req.Msg.GetUserIds())
		if err != nil {
			return nil, err
		}
		return &profilev1.BatchGetProfilesResponse{Profiles: server.Protos(ps, toProto)}, nil
	})
}

// UpdateProfile implements ProfileServiceHandler.
func (h *Handler) UpdateProfile(ctx context.Context, req *connect.Request[profilev1.UpdateProfileRequest]) (*connect.Response[profilev1.UpdateProfileResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*profilev1.UpdateProfileResponse, error) {
		p, err := h.svc.Update(ctx, me, profile.Changes{Nickname: req.Msg.Nickname, About: req.Msg.About})
		if err != nil {
			return nil, err
		}
		return &profilev1.UpdateProfileResponse{Profile: toProto(p)}, nil
	})
}

// SetAvatar implements ProfileServiceHandler.
func (h *Handler) SetAvatar(ctx context.Context, req *connect.Request[profilev1.SetAvatarRequest]) (*connect.Response[profilev1.SetAvatarResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*profilev1.SetAvatarResponse, error) {
		p, err := h.svc.SetAvatar(ctx, me, req.Msg.GetFileId())
		if err != nil {
			return nil, err
		}
		return &profilev1.SetAvatarResponse{Profile: toProto(p)}, nil
	})
}

// SearchUsers implements ProfileServiceHandler.
func (h *Handler) SearchUsers(ctx context.Context, req *connect.Request[profilev1.SearchUsersRequest]) (*connect.Response[profilev1.SearchUsersResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(string) (*profilev1.SearchUsersResponse, error) {
		page, err := h.svc.Search(ctx, req.Msg.GetQuery(), req.Msg.GetPageSize(), req.Msg.GetPageToken())
		if err != nil {
			return nil, err
		}
		return &profilev1.SearchUsersResponse{Results: server.Protos(page.Hits, hitProto), NextPageToken: page.NextPageToken}, nil
	})
}

// CheckNickname implements ProfileServiceHandler. It is public; a signed-in caller's own
// nickname counts as available to them.
func (h *Handler) CheckNickname(ctx context.Context, req *connect.Request[profilev1.CheckNicknameRequest]) (*connect.Response[profilev1.CheckNicknameResponse], error) {
	ok, reason, err := h.svc.CheckNickname(ctx, authn.UserID(ctx), req.Msg.GetNickname())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&profilev1.CheckNicknameResponse{Available: ok, Reason: reason}), nil
}

// toProto converts a profile; the nickname status is set only when the domain left it in (the
// caller's own profile).
func toProto(p profile.Profile) *profilev1.Profile {
	out := &profilev1.Profile{
		UserId:            p.UserID,
		Nickname:          p.Nickname,
		About:             p.About,
		NicknameStatus:    nicknameStatuses[p.NicknameStatus],
		RequestedNickname: p.RequestedNickname,
		CreatedAt:         timestamppb.New(p.CreatedAt),
		UpdatedAt:         timestamppb.New(p.UpdatedAt),
	}
	if a := p.Avatar; a != nil {
		out.Avatar = &profilev1.Avatar{FileId: a.FileID, Url: a.URL, Thumbnail_64Url: a.Thumbnail64URL, Thumbnail_256Url: a.Thumbnail256URL}
	}
	return out
}

func hitProto(hit profile.SearchHit) *profilev1.SearchResult {
	return &profilev1.SearchResult{Profile: toProto(hit.Profile), Match: matches[hit.Match]}
}

// nicknameStatuses and matches give each domain value its proto enum value; a value not listed
// converts to the zero value (UNSPECIFIED).
var (
	nicknameStatuses = map[profile.NicknameStatus]profilev1.NicknameStatus{
		profile.NicknameChosen:         profilev1.NicknameStatus_NICKNAME_STATUS_CHOSEN,
		profile.NicknameRequestedTaken: profilev1.NicknameStatus_NICKNAME_STATUS_REQUESTED_TAKEN,
	}
	matches = map[profile.MatchKind]profilev1.MatchKind{
		profile.MatchExact:  profilev1.MatchKind_MATCH_KIND_EXACT,
		profile.MatchPrefix: profilev1.MatchKind_MATCH_KIND_PREFIX,
		profile.MatchFuzzy:  profilev1.MatchKind_MATCH_KIND_FUZZY,
	}
)

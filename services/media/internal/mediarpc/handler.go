// Package mediarpc serves parley.media.v1.MediaService (Connect handlers: requests to use-case
// calls on media.Service, domain values to protos; domain errors map to Connect codes by
// server.DefaultErrorCodes) and the download route GET /media/files/<id>/<variant>. Rejected
// uploads (media.RejectedError) are InvalidArgument with an UploadRejection detail, attached by
// the handler.
package mediarpc

import (
	"context"
	"errors"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/parleyhq/parley/contracts/access"
	mediav1 "github.com/parleyhq/parley/contracts/gen/go/parley/media/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/media/v1/mediav1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/services/media/internal/media"
)

// PublicProcedures need no access token at the interceptor: BatchGetFiles is authorised in the
// handler, by the internal token or by the forwarded token of the user it is called for.
// media.proto marks it ACCESS_INTERNAL_SERVICE; contracts/access reads the mark.
var PublicProcedures = access.Unauthenticated(mediav1connect.MediaServiceName)

// Handler implements mediav1connect.MediaServiceHandler.
type Handler struct {
	svc *media.Service
	// internal authorise internal calls; none when INTERNAL_API_TOKEN is unset.
	internal authn.InternalTokens
}

var _ mediav1connect.MediaServiceHandler = (*Handler)(nil)

// NewHandler returns the handler over svc, taking internal calls with the internal tokens.
func NewHandler(svc *media.Service, internal authn.InternalTokens) *Handler {
	return &Handler{svc: svc, internal: internal}
}

// CreateUpload implements MediaServiceHandler.
func (h *Handler) CreateUpload(ctx context.Context, req *connect.Request[mediav1.CreateUploadRequest]) (*connect.Response[mediav1.CreateUploadResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*mediav1.CreateUploadResponse, error) {
		m := req.Msg
		f, form, err := h.svc.CreateUpload(ctx, me, media.UploadRequest{
			Purpose: server.KeyOf(purposes, m.GetPurpose()), FileName: m.GetFileName(), ContentType: m.GetContentType(),
			Size: m.GetSizeBytes(), ChatID: m.GetChatId(),
		})
		if err != nil {
			return nil, err
		}
		return &mediav1.CreateUploadResponse{
			FileId: f.ID, UploadUrl: form.URL, FormFields: form.Fields,
			ExpiresAt: timestamppb.New(form.ExpiresAt), MaxSizeBytes: f.DeclaredSize,
		}, nil
	})
}

// CompleteUpload implements MediaServiceHandler.
func (h *Handler) CompleteUpload(ctx context.Context, req *connect.Request[mediav1.CompleteUploadRequest]) (*connect.Response[mediav1.CompleteUploadResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*mediav1.CompleteUploadResponse, error) {
		f, err := h.svc.CompleteUpload(ctx, me, req.Msg.GetFileId())
		if rj := (*media.RejectedError)(nil); errors.As(err, &rj) {
			return nil, rejection(rj)
		}
		if err != nil {
			return nil, err
		}
		return &mediav1.CompleteUploadResponse{File: h.toProto(f)}, nil
	})
}

// rejection is the InvalidArgument error of a rejected upload, with an UploadRejection detail.
func rejection(rj *media.RejectedError) error {
	ce := connect.NewError(connect.CodeInvalidArgument, rj)
	if d, err := connect.NewErrorDetail(&mediav1.UploadRejection{
		FileId: rj.FileID, Reason: reasons[rj.Rejection.Reason], Message: rj.Rejection.Message,
	}); err == nil {
		ce.AddDetail(d)
	}
	return ce
}

// GetFile implements MediaServiceHandler.
func (h *Handler) GetFile(ctx context.Context, req *connect.Request[mediav1.GetFileRequest]) (*connect.Response[mediav1.GetFileResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*mediav1.GetFileResponse, error) {
		f, err := h.svc.GetFile(ctx, me, req.Msg.GetFileId())
		if err != nil {
			return nil, err
		}
		return &mediav1.GetFileResponse{File: h.toProto(f)}, nil
	})
}

// BatchGetFiles implements MediaServiceHandler. It is internal: a call presenting the internal
// token gets every file named; a call carrying a user's token (a service forwarding the token of
// the user it acts for) gets what that user may see; anything else is PermissionDenied.
func (h *Handler) BatchGetFiles(ctx context.Context, req *connect.Request[mediav1.BatchGetFilesRequest]) (*connect.Response[mediav1.BatchGetFilesResponse], error) {
	trusted := false
	if presented := req.Header().Get(authn.InternalTokenHeader); presented != "" {
		// Constant time whatever the lengths; an unset token matches nothing.
		if !h.internal.Accept(presented) {
			return nil, connect.NewError(connect.CodePermissionDenied, errors.New("the internal token is not valid"))
		}
		trusted = true
	}
	me := authn.UserID(ctx)
	if !trusted && me == "" {
		return nil, connect.NewError(connect.CodePermissionDenied,
			errors.New("BatchGetFiles is internal: only Parley services may call it, with the internal token or on behalf of a signed-in user"))
	}
	files, err := h.svc.BatchGetFiles(ctx, me, trusted, req.Msg.GetFileIds())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&mediav1.BatchGetFilesResponse{Files: server.Protos(files, h.toProto)}), nil
}

// DeleteFile implements MediaServiceHandler.
func (h *Handler) DeleteFile(ctx context.Context, req *connect.Request[mediav1.DeleteFileRequest]) (*connect.Response[mediav1.DeleteFileResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*mediav1.DeleteFileResponse, error) {
		return &mediav1.DeleteFileResponse{}, h.svc.DeleteFile(ctx, me, req.Msg.GetFileId())
	})
}

// GetQuota implements MediaServiceHandler.
func (h *Handler) GetQuota(ctx context.Context, _ *connect.Request[mediav1.GetQuotaRequest]) (*connect.Response[mediav1.GetQuotaResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*mediav1.GetQuotaResponse, error) {
		q, err := h.svc.Quota(ctx, me)
		if err != nil {
			return nil, err
		}
		return &mediav1.GetQuotaResponse{
			UsedBytes: q.UsedBytes, ReservedBytes: q.ReservedBytes, LimitBytes: q.LimitBytes,
			MaxAvatarSizeBytes: q.MaxAvatarBytes, MaxAttachmentSizeBytes: q.MaxAttachmentBytes,
		}, nil
	})
}

// toProto converts a file, with fresh URLs when it is READY.
func (h *Handler) toProto(f media.File) *mediav1.File {
	out := &mediav1.File{
		FileId: f.ID, OwnerId: f.OwnerID, Purpose: purposes[f.Purpose], Status: statuses[f.Status],
		Name: f.Name, ContentType: f.DeclaredType, SizeBytes: f.DeclaredSize, ChatId: f.ChatID,
		CreatedAt: timestamppb.New(f.CreatedAt),
	}
	switch f.Status {
	case media.StatusReady:
		out.ContentType, out.SizeBytes = f.ContentType, f.Size
		out.Width, out.Height = int32(f.Width), int32(f.Height) // bounded by MAX_IMAGE_SIDE
		u := h.svc.URLs(f)
		out.Url, out.Thumbnail_64Url, out.Thumbnail_256Url = u.Original, u.Thumb64, u.Thumb256
		if !u.ExpiresAt.IsZero() {
			out.UrlExpiresAt = timestamppb.New(u.ExpiresAt)
		}
	case media.StatusRejected:
		out.RejectionReason = reasons[f.Rejection.Reason]
	}
	return out
}

// purposes, statuses and reasons give each domain value its proto enum value; a value not listed
// converts to the zero value (UNSPECIFIED), as a proto value not listed converts to "".
var (
	purposes = map[media.Purpose]mediav1.FilePurpose{
		media.PurposeAvatar:     mediav1.FilePurpose_FILE_PURPOSE_AVATAR,
		media.PurposeAttachment: mediav1.FilePurpose_FILE_PURPOSE_ATTACHMENT,
	}
	statuses = map[media.Status]mediav1.FileStatus{
		media.StatusPending:  mediav1.FileStatus_FILE_STATUS_PENDING,
		media.StatusReady:    mediav1.FileStatus_FILE_STATUS_READY,
		media.StatusRejected: mediav1.FileStatus_FILE_STATUS_REJECTED,
	}
	reasons = map[media.Reason]mediav1.RejectionReason{
		media.ReasonSizeMismatch:       mediav1.RejectionReason_REJECTION_REASON_SIZE_MISMATCH,
		media.ReasonTooLarge:           mediav1.RejectionReason_REJECTION_REASON_TOO_LARGE,
		media.ReasonTypeNotAllowed:     mediav1.RejectionReason_REJECTION_REASON_TYPE_NOT_ALLOWED,
		media.ReasonTypeMismatch:       mediav1.RejectionReason_REJECTION_REASON_TYPE_MISMATCH,
		media.ReasonDimensionsTooLarge: mediav1.RejectionReason_REJECTION_REASON_DIMENSIONS_TOO_LARGE,
		media.ReasonUnreadable:         mediav1.RejectionReason_REJECTION_REASON_UNREADABLE,
	}
)

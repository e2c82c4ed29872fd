// Package mediaclient asks the media service (parley.media.v1) about files the caller wants to use
// as an avatar, with a generated Connect client over gRPC, forwarding the caller's access token so
// the media service authorises the same person.
package mediaclient

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"

	mediav1 "github.com/parleyhq/parley/contracts/gen/go/parley/media/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/media/v1/mediav1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/services/profile/internal/profile"
)

// DefaultTimeout bounds one call to the media service.
const DefaultTimeout = 5 * time.Second

// Client implements profile.AvatarFiles.
type Client struct {
	media   mediav1connect.MediaServiceClient
	timeout time.Duration
}

// New returns a client for the media service at baseURL ("http://127.0.0.1:8086"). httpClient
// must speak HTTP/2 without TLS (h2c) for gRPC; nil means a suitable default.
func New(httpClient connect.HTTPClient, baseURL string) *Client {
	if httpClient == nil {
		httpClient = server.H2CClient()
	}
	return &Client{
		media:   mediav1connect.NewMediaServiceClient(httpClient, baseURL, connect.WithGRPC(), connect.WithInterceptors(authn.ForwardToken())),
		timeout: DefaultTimeout,
	}
}

// AvatarFile returns fileID as an avatar if it is callerID's own avatar upload and ready.
func (c *Client) AvatarFile(ctx context.Context, callerID, fileID string) (profile.Avatar, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := c.media.GetFile(ctx, connect.NewRequest(&mediav1.GetFileRequest{FileId: fileID}))
	if err != nil {
		return profile.Avatar{}, mediaError(parent, fileID, err)
	}
	f := res.Msg.GetFile()
	switch {
	case f.GetOwnerId() != callerID:
		return profile.Avatar{}, domainerr.Errorf(domainerr.ErrPermissionDenied, "file_id: the file is not yours; upload your own picture")
	case f.GetPurpose() != mediav1.FilePurpose_FILE_PURPOSE_AVATAR:
		return profile.Avatar{}, domainerr.Errorf(domainerr.ErrInvalidArgument, "file_id: the file was not uploaded as an avatar (purpose %s); upload it with purpose FILE_PURPOSE_AVATAR", f.GetPurpose())
	case f.GetStatus() != mediav1.FileStatus_FILE_STATUS_READY:
		return profile.Avatar{}, domainerr.Errorf(domainerr.ErrFailedPrecondition, "file_id: the upload is not ready (status %s); call CompleteUpload first", f.GetStatus())
	}
	return profile.Avatar{FileID: f.GetFileId(), URL: f.GetUrl(), Thumbnail64URL: f.GetThumbnail_64Url(), Thumbnail256URL: f.GetThumbnail_256Url()}, nil
}

// mediaError turns the media service's answer to GetFile into one of profile's own errors. The
// media service's error is wrapped as the cause, for the logs: platform/server trusts only a
// top-level *connect.Error, so media's code, message (which may name internal addresses) and
// metadata never reach our caller. Every message a person sees is profile's own.
func mediaError(ctx context.Context, fileID string, err error) error {
	cause := fmt.Errorf("media GetFile %s: %w", fileID, err)
	switch connect.CodeOf(err) {
	case connect.CodeNotFound:
		return domainerr.Wrap(domainerr.ErrNotFound, cause, "file_id: no file %s (upload it with parley.media.v1.MediaService first)", fileID)
	case connect.CodePermissionDenied:
		return domainerr.Wrap(domainerr.ErrPermissionDenied, cause, "file_id: the file is not yours; upload your own picture")
	case connect.CodeInvalidArgument:
		// profile checked the id's form already; media refusing it means it names no usable file.
		return domainerr.Wrap(domainerr.ErrInvalidArgument, cause, "file_id: %s is not a file the media service accepts; upload the picture again", fileID)
	}
	// Unreachable, a refused token, or a fault of the media service or ours (server.PeerError).
	return server.PeerError(ctx, "media", cause)
}

package mediarpc

import (
	"connectrpc.com/connect"

	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/services/media/internal/media"
)

// ErrorCodes is the one table mapping the media domain's sentinel errors to Connect codes, for
// server.HandlerOptions. Anything else becomes Internal with a generic message (cause logged).
// Rejected uploads (media.RejectedError) are InvalidArgument with an UploadRejection detail,
// attached by the handler.
var ErrorCodes = []server.ErrorCode{
	{Err: media.ErrInvalidArgument, Code: connect.CodeInvalidArgument},
	{Err: media.ErrNotFound, Code: connect.CodeNotFound},
	{Err: media.ErrFailedPrecondition, Code: connect.CodeFailedPrecondition},
	{Err: media.ErrResourceExhausted, Code: connect.CodeResourceExhausted},
	{Err: media.ErrPermissionDenied, Code: connect.CodePermissionDenied},
	{Err: media.ErrUnavailable, Code: connect.CodeUnavailable},
}

package notificationrpc

import (
	"connectrpc.com/connect"

	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/services/notification/internal/notification"
)

// ErrorCodes is the one table mapping the notification domain's sentinel errors to Connect codes,
// for server.HandlerOptions. Anything else becomes Internal with a generic message (cause logged).
var ErrorCodes = []server.ErrorCode{
	{Err: notification.ErrInvalidArgument, Code: connect.CodeInvalidArgument},
	{Err: notification.ErrPermissionDenied, Code: connect.CodePermissionDenied},
}

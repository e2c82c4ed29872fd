package chatrpc

import (
	"connectrpc.com/connect"

	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/services/chat/internal/chat"
)

// ErrorCodes is the one table mapping the chat domain's sentinel errors to Connect codes, for
// server.HandlerOptions. Anything else becomes Internal with a generic message (cause logged).
var ErrorCodes = []server.ErrorCode{
	{Err: chat.ErrInvalidArgument, Code: connect.CodeInvalidArgument},
	{Err: chat.ErrNotFound, Code: connect.CodeNotFound},
	{Err: chat.ErrPermissionDenied, Code: connect.CodePermissionDenied},
	{Err: chat.ErrFailedPrecondition, Code: connect.CodeFailedPrecondition},
	{Err: chat.ErrUnavailable, Code: connect.CodeUnavailable},
	{Err: chat.ErrUnauthenticated, Code: connect.CodeUnauthenticated},
}

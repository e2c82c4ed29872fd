package friendrpc

import (
	"connectrpc.com/connect"

	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/services/friend/internal/friend"
)

// ErrorCodes is the one table mapping the friend domain's sentinel errors to Connect codes, for
// server.HandlerOptions. Anything else becomes Internal with a generic message (cause logged).
var ErrorCodes = []server.ErrorCode{
	{Err: friend.ErrInvalidArgument, Code: connect.CodeInvalidArgument},
	{Err: friend.ErrNotFound, Code: connect.CodeNotFound},
	{Err: friend.ErrPermissionDenied, Code: connect.CodePermissionDenied},
	{Err: friend.ErrFailedPrecondition, Code: connect.CodeFailedPrecondition},
	{Err: friend.ErrResourceExhausted, Code: connect.CodeResourceExhausted},
}

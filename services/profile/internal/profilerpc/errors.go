package profilerpc

import (
	"connectrpc.com/connect"

	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/services/profile/internal/profile"
)

// ErrorCodes is the one table mapping the profile domain's sentinel errors to Connect codes, for
// server.HandlerOptions. Anything else becomes Internal with a generic message (cause logged).
var ErrorCodes = []server.ErrorCode{
	{Err: profile.ErrInvalidArgument, Code: connect.CodeInvalidArgument},
	{Err: profile.ErrNotFound, Code: connect.CodeNotFound},
	{Err: profile.ErrAlreadyExists, Code: connect.CodeAlreadyExists},
	{Err: profile.ErrPermissionDenied, Code: connect.CodePermissionDenied},
	{Err: profile.ErrFailedPrecondition, Code: connect.CodeFailedPrecondition},
	{Err: profile.ErrUnavailable, Code: connect.CodeUnavailable},
	{Err: profile.ErrUnauthenticated, Code: connect.CodeUnauthenticated},
}

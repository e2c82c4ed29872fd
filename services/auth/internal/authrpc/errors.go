package authrpc

import (
	"connectrpc.com/connect"

	"github.com/parleyhq/parley/platform/server"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

// ErrorCodes is the one table from the auth domain's sentinel errors to Connect codes. The message
// sent is the domain error's own (written for the caller); anything not listed becomes Internal
// with a generic message, and its cause is only logged.
var ErrorCodes = []server.ErrorCode{
	{Err: auth.ErrInvalidArgument, Code: connect.CodeInvalidArgument},
	{Err: auth.ErrAlreadyExists, Code: connect.CodeAlreadyExists},
	{Err: auth.ErrUnauthenticated, Code: connect.CodeUnauthenticated},
	{Err: auth.ErrNotFound, Code: connect.CodeNotFound},
	{Err: auth.ErrBusy, Code: connect.CodeResourceExhausted},
	{Err: auth.ErrFailedPrecondition, Code: connect.CodeFailedPrecondition},
	{Err: auth.ErrUnavailable, Code: connect.CodeUnavailable},
}

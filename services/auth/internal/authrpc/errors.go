package authrpc

import (
	"connectrpc.com/connect"

	"github.com/parleyhq/parley/platform/server"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

// ErrorCodes maps the auth domain's own error kinds to Connect codes, for server.HandlerOptions;
// the standard kinds (domainerr.ErrInvalidArgument and the rest) map by server.DefaultErrorCodes. A
// throttled login's RetryAfter is sent as a Retry-After header by platform/server.
var ErrorCodes = []server.ErrorCode{
	{Err: auth.ErrBusy, Code: connect.CodeResourceExhausted},
	{Err: auth.ErrTooManyAttempts, Code: connect.CodeResourceExhausted},
}

package authrpc

import (
	"errors"
	"math"
	"strconv"

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
	{Err: auth.ErrTooManyAttempts, Code: connect.CodeResourceExhausted},
	{Err: auth.ErrFailedPrecondition, Code: connect.CodeFailedPrecondition},
	{Err: auth.ErrUnavailable, Code: connect.CodeUnavailable},
}

// withRetryAfter turns a domain error that says how long to wait (a throttled login) into its
// Connect error with a Retry-After header (whole seconds, RFC 9110 §10.2.3): Connect sends error
// metadata as response headers, gRPC as trailers. Other errors are returned as they are.
func withRetryAfter(err error) error {
	var de *auth.Error
	if !errors.As(err, &de) || de.RetryAfter <= 0 {
		return err
	}
	code := connect.CodeInternal
	for _, c := range ErrorCodes {
		if errors.Is(err, c.Err) {
			code = c.Code
			break
		}
	}
	ce := connect.NewError(code, err)
	ce.Meta().Set("Retry-After", strconv.Itoa(int(math.Ceil(de.RetryAfter.Seconds()))))
	return ce
}

package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"connectrpc.com/connect"
)

// protocol is the RPC protocol a request speaks, judged from its method and Content-Type the way
// connect-go does.
type protocol string

const (
	protocolConnect       protocol = "connect"        // Connect unary: JSON or binary, POST or GET
	protocolConnectStream protocol = "connect-stream" // Connect streaming: application/connect+*
	protocolGRPC          protocol = "grpc"
	protocolGRPCWeb       protocol = "grpc-web"
)

func protocolOf(r *http.Request) protocol {
	ct := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Type")))
	switch {
	case strings.HasPrefix(ct, "application/grpc-web"):
		return protocolGRPCWeb
	case strings.HasPrefix(ct, "application/grpc"):
		return protocolGRPC
	case strings.HasPrefix(ct, "application/connect+"):
		return protocolConnectStream
	default:
		return protocolConnect
	}
}

// errorWriter writes an RPC error in the format the request's client expects: a Connect JSON error
// body for Connect unary (and anything unrecognised), an end-of-stream message for Connect
// streaming, grpc-status/grpc-message for gRPC and gRPC-Web.
var errorWriter = connect.NewErrorWriter()

// writeRPCError answers r with code and message in r's protocol. status, when not zero, replaces
// the HTTP status Connect would use for a Connect unary response (413 for a body that is too
// large); the other protocols always answer 200 and carry the code in grpc-status or the stream.
// It records the code for the access log.
func writeRPCError(w http.ResponseWriter, r *http.Request, code connect.Code, message string, status int) {
	infoFrom(r.Context()).setCode(code.String())
	cerr := connect.NewError(code, errors.New(message))
	if status != 0 && protocolOf(r) == protocolConnect {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		body, _ := json.Marshal(struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}{code.String(), message})
		_, _ = w.Write(body)
		return
	}
	_ = errorWriter.Write(w, r, cerr)
}

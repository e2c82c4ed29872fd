package server

import (
	"context"
	"net"
	"net/http"
	"time"

	"connectrpc.com/connect"

	"github.com/parleyhq/parley/platform/domainerr"
)

// H2CTransport returns the transport for calling another Parley service: HTTP/2 without TLS (h2c,
// prior knowledge) for http:// URLs, which is how Server answers gRPC inside the cluster, and
// HTTP/2 over TLS for https:// ones. gRPC needs HTTP/2 end to end, and one multiplexed connection
// per peer carries every call. There is deliberately no response-header or overall timeout:
// streams last as long as they last, and a unary call's deadline travels in its headers
// (grpc-timeout, Connect-Timeout-Ms). An idle connection is pinged, so that a peer that went away
// without closing it is noticed instead of hanging the calls made on it. The gateway forwards gRPC
// on it; H2CClient wraps it for the <peer>client packages.
func H2CTransport() *http.Transport {
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	protocols.SetHTTP2(true)
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Protocols:           protocols,
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		HTTP2: &http.HTTP2Config{
			SendPingTimeout: 30 * time.Second,
			PingTimeout:     10 * time.Second,
		},
	}
}

// H2CClient returns the HTTP client for calling another service over gRPC, on H2CTransport. A
// service's <peer>client package uses it when its caller passes no client of its own.
func H2CClient() *http.Client { return &http.Client{Transport: H2CTransport()} }

// PeerError is what a <peer>client package returns for a failed call to the peer service (named
// by peer: "media"), once it has taken the answers that mean something in its own domain (profile's
// mediaclient: NotFound, PermissionDenied). ctx is the client's caller's context, not the call's
// own deadline: when it has ended, the caller went away and ctx.Err() is the answer, not the
// peer's fault. cause is the call's error, wrapped with what was asked.
//
// The peer's *connect.Error stays in the chain for the logs; its code and message never reach the
// caller, because the error mapper trusts only a top-level *connect.Error:
//   - unreachable, too slow, overloaded, or a call canceled under a live caller (the transport
//     failing): domainerr.ErrUnavailable, "the <peer> service cannot be reached; try again
//     shortly";
//   - Unauthenticated, the forwarded access token refused (it expired on the way):
//     domainerr.ErrUnauthenticated, "the <peer> service did not accept your access token; sign in
//     again";
//   - anything else is the peer's fault or ours: cause as it is, which the caller sees as Internal
//     and the log records.
func PeerError(ctx context.Context, peer string, cause error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch connect.CodeOf(cause) {
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeResourceExhausted, connect.CodeCanceled:
		return domainerr.Wrap(domainerr.ErrUnavailable, cause, "the %s service cannot be reached; try again shortly", peer)
	case connect.CodeUnauthenticated:
		return domainerr.Wrap(domainerr.ErrUnauthenticated, cause, "the %s service did not accept your access token; sign in again", peer)
	}
	return cause
}

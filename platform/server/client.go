package server

import (
	"context"
	"net/http"

	"connectrpc.com/connect"

	"github.com/parleyhq/parley/platform/domainerr"
)

// H2CClient returns the HTTP client for calling another service over gRPC: HTTP/2 over plain TCP
// (h2c, prior knowledge), which is how Server answers gRPC inside the cluster. A service's
// <peer>client package uses it when its caller passes no client of its own.
func H2CClient() *http.Client {
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: protocols, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16}}
}

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

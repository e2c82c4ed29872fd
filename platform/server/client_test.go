package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/rpctest"
	"github.com/parleyhq/parley/platform/server"
)

// A peer's answer becomes the caller's own error; the peer's *connect.Error stays reachable for
// the logs but is never the top-level error the mapper would pass on.
func TestPeerErrorClassifiesThePeersAnswer(t *testing.T) {
	for _, c := range []struct {
		code connect.Code
		kind error // nil: the cause as it is (Internal for the caller)
		msg  string
	}{
		{connect.CodeUnavailable, domainerr.ErrUnavailable, "the media service cannot be reached; try again shortly"},
		{connect.CodeDeadlineExceeded, domainerr.ErrUnavailable, "the media service cannot be reached; try again shortly"},
		{connect.CodeResourceExhausted, domainerr.ErrUnavailable, "the media service cannot be reached; try again shortly"},
		{connect.CodeCanceled, domainerr.ErrUnavailable, "the media service cannot be reached; try again shortly"},
		{connect.CodeUnauthenticated, domainerr.ErrUnauthenticated, "the media service did not accept your access token; sign in again"},
		{connect.CodePermissionDenied, nil, ""},
		{connect.CodeInvalidArgument, nil, ""},
		{connect.CodeInternal, nil, ""},
	} {
		t.Run(c.code.String(), func(t *testing.T) {
			peer := connect.NewError(c.code, errors.New("peer detail 10.0.0.7"))
			cause := fmt.Errorf("media GetFile x: %w", peer)
			err := server.PeerError(context.Background(), "media", cause)
			if _, top := err.(*connect.Error); top { //nolint:errorlint // only a top-level one would reach the caller
				t.Fatalf("PeerError = %v: the peer's *connect.Error is on top", err)
			}
			if !errors.Is(err, peer) {
				t.Fatalf("PeerError = %v: the peer's answer is not in the chain", err)
			}
			if c.kind == nil {
				if err != cause { //nolint:errorlint // the cause itself, unchanged
					t.Fatalf("PeerError = %v, want the cause unchanged", err)
				}
				return
			}
			var de *domainerr.Error
			if !errors.As(err, &de) || !errors.Is(err, c.kind) || de.Msg != c.msg || strings.Contains(de.Msg, "10.0.0.7") {
				t.Fatalf("PeerError = %v; want %v saying %q", err, c.kind, c.msg)
			}
		})
	}
}

// A caller that went away gets its own context's error, whatever the peer answered.
func TestPeerErrorAnswersACallerThatWentAwayWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cause := fmt.Errorf("media GetFile x: %w", connect.NewError(connect.CodeCanceled, errors.New("canceled")))
	if err := server.PeerError(ctx, "media", cause); !errors.Is(err, context.Canceled) || errors.Is(err, domainerr.ErrUnavailable) {
		t.Fatalf("PeerError for a canceled caller = %v; want context.Canceled", err)
	}
}

// H2CTransport calls a peer over HTTP/2 both ways a peer's URL can say: h2c for http://, which is
// how Server answers inside the cluster, and TLS for https:// (a peer behind a TLS proxy or mesh).
func TestH2CTransportSpeaksHTTP2WithAndWithoutTLS(t *testing.T) {
	proto := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.Proto) })

	plain := rpctest.Serve(t, proto) // HTTP/1.1 and h2c

	tls := httptest.NewUnstartedServer(proto)
	tls.EnableHTTP2 = true
	tls.StartTLS()
	t.Cleanup(tls.Close)

	transport := server.H2CTransport()
	transport.TLSClientConfig = tls.Client().Transport.(*http.Transport).TLSClientConfig // trust its test certificate
	client := &http.Client{Transport: transport}
	for _, url := range []string{plain.URL, tls.URL} {
		res, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if string(body) != "HTTP/2.0" {
			t.Errorf("GET %s went over %s; want HTTP/2.0", url, body)
		}
	}
}

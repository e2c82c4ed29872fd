package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"go.opentelemetry.io/otel/propagation"

	"github.com/parleyhq/parley/platform/logging"
	"github.com/parleyhq/parley/platform/server"
)

// NewProxyTransport returns how the gateway forwards calls: gRPC over HTTP/2 (server.H2CTransport:
// h2c for http:// upstreams, TLS for https:// ones; gRPC needs HTTP/2 end to end, for its
// trailers), everything else — Connect unary and streaming,
// gRPC-Web — over a pool of HTTP/1.1 keep-alive connections. Every service answers both on its one
// port. For small unary calls HTTP/1.1 costs both sides markedly less CPU: no frame loop and
// handler goroutine handoff per call, no header compression state; on the message path the
// service behind the gateway spent about twice the CPU per call on HTTP/2 (docs/performance.md).
func NewProxyTransport() http.RoundTripper {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	return proxyTransport{
		h2: server.H2CTransport(),
		h1: &http.Transport{
			Protocols:           protocols,
			DialContext:         dialer.DialContext,
			TLSHandshakeTimeout: 5 * time.Second,
			// Calls in flight at once need a connection each; this many stay open between bursts.
			MaxIdleConnsPerHost: 128,
			IdleConnTimeout:     90 * time.Second,
		},
	}
}

type proxyTransport struct{ h2, h1 *http.Transport }

func (t proxyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if protocolOf(r) == protocolGRPC {
		return t.h2.RoundTrip(r)
	}
	return t.h1.RoundTrip(r)
}

func (t proxyTransport) CloseIdleConnections() {
	t.h2.CloseIdleConnections()
	t.h1.CloseIdleConnections()
}

// isIdentityHeader reports request headers a client must never be able to set for the services:
// identities are asserted only by the access token, which every service verifies itself.
func isIdentityHeader(name string) bool {
	n := strings.ToLower(name)
	for _, p := range []string{"x-user", "x-parley-", "x-auth-", "x-forwarded-user", "x-remote-user", "remote-user", "x-principal", "x-session-id", "x-internal-"} {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	return false
}

type proxyTarget struct {
	upstream Upstream
	proc     Procedure
	cookie   *refreshCookie // nil unless the call is in refresh-cookie mode
}

type targetKey struct{}

// limitedBody caps a request body and remembers whether the cap was hit, so the proxy can answer
// 413 rather than "upstream unavailable" when the upload is cut short.
type limitedBody struct {
	r        io.ReadCloser
	left     int64
	exceeded atomic.Bool
}

var errBodyTooLarge = errors.New("request body too large")

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		b.exceeded.Store(true)
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		b.exceeded.Store(true)
		return 0, errBodyTooLarge
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.r.Close() }

type bodyKey struct{}

// newReverseProxy builds the one proxy for all upstreams; the request's context names its target.
func (g *Gateway) newReverseProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Transport:  g.transport,
		BufferPool: proxyBuffers{},
		// FlushInterval stays 0: a response without a length (server streams, gRPC) is flushed on
		// every write anyway (the proxy does that for ContentLength -1), and a unary response with
		// its length goes out in one write at the end instead of two.
		ErrorLog: slog.NewLogLogger(g.logger.Handler(), slog.LevelWarn),
		Rewrite: func(pr *httputil.ProxyRequest) {
			t := pr.In.Context().Value(targetKey{}).(proxyTarget)
			out := pr.Out
			if b, ok := pr.In.Body.(readAhead); ok {
				out.Body = io.NopCloser(b.Reader) // in memory, for net/http to see (readAhead)
			}
			out.URL.Scheme = t.upstream.URL.Scheme
			out.URL.Host = t.upstream.URL.Host
			out.URL.Path = t.upstream.URL.Path + t.proc.Path
			out.URL.RawPath = ""
			out.Host = "" // the upstream's own host name
			for name := range out.Header {
				if isIdentityHeader(name) {
					out.Header.Del(name)
				}
			}
			// Trace context is the gateway's to give (its span's, with tracing on), never a
			// client's: services continue whatever trace the header names.
			out.Header.Del("Traceparent")
			out.Header.Del("Tracestate")
			g.tel.Inject(pr.In.Context(), propagation.HeaderCarrier(out.Header))
			// X-Forwarded-For: keep the chain only when it came from a proxy we trust.
			if g.trustedPeer(pr.In) {
				if xff := pr.In.Header.Values("X-Forwarded-For"); len(xff) > 0 {
					out.Header["X-Forwarded-For"] = xff
				}
			}
			pr.SetXForwarded()
			if t.cookie != nil {
				// The answer is rewritten, so it must come uncompressed; the cookie is the
				// gateway's, the service never sees it.
				out.Header.Set("Accept-Encoding", "identity")
				out.Header.Del("Cookie")
			}
		},
		ModifyResponse: func(res *http.Response) error {
			// CORS is the gateway's business; an upstream's own CORS headers would be duplicates.
			for name := range res.Header {
				if strings.HasPrefix(strings.ToLower(name), "access-control-") {
					res.Header.Del(name)
				}
			}
			recordUpstreamCode(res)
			if t, _ := res.Request.Context().Value(targetKey{}).(proxyTarget); t.cookie != nil {
				return moveRefreshToken(res, t.cookie)
			}
			return nil
		},
		ErrorHandler: g.proxyError,
	}
}

// proxyBuffers lends the proxy its copy buffers: without a pool it allocates (and zeroes) 32 KiB
// for every call.
type proxyBuffers struct{}

var proxyBufferPool = sync.Pool{New: func() any { return new([32 << 10]byte) }}

func (proxyBuffers) Get() []byte  { return proxyBufferPool.Get().(*[32 << 10]byte)[:] }
func (proxyBuffers) Put(b []byte) { proxyBufferPool.Put((*[32 << 10]byte)(b)) }

// proxyError answers a call the upstream could not take: an upload over the limit gets 413, a
// client that went away gets nothing, anything else means the service is unreachable.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if b, ok := r.Context().Value(bodyKey{}).(*limitedBody); ok && b.exceeded.Load() {
		writeRPCError(w, r, connect.CodeResourceExhausted, tooLargeMessage(g.maxBody), http.StatusRequestEntityTooLarge)
		return
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		infoFrom(r.Context()).setCode(connect.CodeCanceled.String())
		w.WriteHeader(499) // nobody reads it; the status is for the access log
		return
	}
	t, _ := r.Context().Value(targetKey{}).(proxyTarget)
	logging.AddAttrs(r.Context(), slog.String("error", err.Error())) // on the access-log line
	writeRPCError(w, r, connect.CodeUnavailable, "service "+t.upstream.Name+" is unavailable, try again later", 0)
}

func tooLargeMessage(limit int64) string {
	return "request body is larger than the gateway's limit of " + strconv.FormatInt(limit, 10) + " bytes"
}

// recordUpstreamCode notes the RPC code of a proxied response for the access log: grpc-status from
// a trailers-only response or from the trailers once the body is read, the code of a Connect unary
// error body, or ok for a successful Connect unary call. (gRPC-Web trailers and Connect streaming
// end-of-stream messages are inside the body and are not parsed.)
func recordUpstreamCode(res *http.Response) {
	info := infoFrom(res.Request.Context())
	if s := res.Header.Get("Grpc-Status"); s != "" {
		info.setCodeIfUnset(grpcCodeName(s))
		return
	}
	switch protocolOf(res.Request) {
	case protocolGRPC:
		res.Body = &trailerWatcher{ReadCloser: res.Body, res: res, info: info}
	case protocolConnect:
		if res.StatusCode == http.StatusOK {
			info.setCodeIfUnset("ok")
			return
		}
		if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			return
		}
		// Peek at the error body (small) and put it back in front of the rest.
		head := make([]byte, 2048)
		n, _ := io.ReadFull(res.Body, head)
		head = head[:n]
		var e struct {
			Code string `json:"code"`
		}
		if json.Unmarshal(head, &e) == nil && e.Code != "" {
			info.setCodeIfUnset(e.Code)
		}
		res.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), res.Body), res.Body}
	case protocolConnectStream, protocolGRPCWeb:
	}
}

// trailerWatcher records grpc-status from the trailers when the body has been read.
type trailerWatcher struct {
	io.ReadCloser
	res  *http.Response
	info *requestInfo
}

func (t *trailerWatcher) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		if s := t.res.Trailer.Get("Grpc-Status"); s != "" {
			t.info.setCodeIfUnset(grpcCodeName(s))
		}
	}
	return n, err
}

func grpcCodeName(s string) string {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return s
	}
	if n == 0 {
		return "ok"
	}
	return connect.Code(n).String()
}

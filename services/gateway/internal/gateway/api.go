package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"github.com/labstack/echo/v4"
)

// serveAPI handles /api/<package>.<Service>/<Method>: route, body limit, authentication, rate
// limit, then the reverse proxy. Every refusal is an RPC error in the request's protocol.
func (g *Gateway) serveAPI(c echo.Context) error {
	r := c.Request()
	w := c.Response()
	info := infoFrom(r.Context())
	proto := protocolOf(r)

	path := strings.TrimPrefix(r.URL.Path, APIPrefix)
	proc, ok := ParseProcedure(path)
	if !ok || r.URL.RawPath != "" {
		info.set(func(i *requestInfo) { i.protocol = proto })
		writeRPCError(w, r, connect.CodeNotFound, "no such procedure: "+APIPrefix+"/<package>.<Service>/<Method> expected, like "+APIPrefix+"/parley.auth.v1.AuthService/Login", 0)
		return nil
	}
	if g.internal[proc.Path] {
		// Service-to-service only: answered like a procedure that does not exist, before any
		// token check, so the outside learns nothing about it.
		info.set(func(i *requestInfo) {
			i.procedure = proc.Path
			i.protocol = proto
		})
		writeRPCError(w, r, connect.CodeNotFound, "no such procedure: "+proc.Path+" is internal and not served by the gateway", 0)
		return nil
	}
	up, ok := g.routes.lookup(proc)
	info.set(func(i *requestInfo) {
		i.procedure = proc.Path
		i.protocol = proto
		i.upstream = up.Name
	})
	if !ok {
		writeRPCError(w, r, connect.CodeNotFound, "unknown service "+proc.Package+"."+proc.Service, 0)
		return nil
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		writeRPCError(w, r, connect.CodeUnimplemented, "method "+r.Method+" not allowed: RPCs use POST (or GET for Connect)", http.StatusMethodNotAllowed)
		return nil
	}

	if r.ContentLength > g.maxBody {
		writeRPCError(w, r, connect.CodeResourceExhausted, tooLargeMessage(g.maxBody), http.StatusRequestEntityTooLarge)
		return nil
	}

	// Authentication: public procedures pass as they are; the rest need a valid access token.
	// The Authorization header itself travels on unchanged: the service checks it again. A call
	// that does not authenticate is anonymous and is charged to its client's anonymous budget.
	var userID string
	if !g.public[proc.Path] {
		p, ok := g.authenticateCall(c)
		if !ok {
			return nil
		}
		userID = p.UserID
		SetUser(r.Context(), userID)
		if g.sessionEnded(r.Context(), p.SessionID) {
			g.refuseAnonymous(c, connect.CodeUnauthenticated, "session has ended; sign in again")
			return nil
		}
	}

	if !g.allow(c, proc, userID) {
		return nil
	}
	cookie, answered := cookieMode(w, r, proc, g.secureCookie)
	if answered {
		return nil
	}

	body := &limitedBody{r: r.Body, left: g.maxBody}
	r.Body = body
	ctx := context.WithValue(r.Context(), targetKey{}, proxyTarget{upstream: up, proc: proc, cookie: cookie})
	ctx = context.WithValue(ctx, bodyKey{}, body)
	r = r.WithContext(ctx)
	if proto == protocolConnect && r.ContentLength > 0 && r.ContentLength <= inMemoryBody && !g.readBody(w, r, body) {
		return nil
	}
	if cookie != nil && cookie.call.request != nil && !g.fillRefreshToken(w, r, cookie) {
		return nil
	}
	g.proxy.ServeHTTP(w, r)
	return nil
}

// readBody reads a unary call's small body before it is forwarded, so the forwarded request goes
// out in one write with its headers (net/http flushes the headers on their own before a body it
// cannot see the end of). It answers the call itself and reports false when the body is short.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request, body io.Reader) bool {
	buf := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(body, buf); err != nil {
		if r.Context().Err() != nil {
			g.proxyError(w, r, err) // the client went away
		} else {
			writeRPCError(w, r, connect.CodeInvalidArgument, "request body ended before its Content-Length", http.StatusBadRequest)
		}
		return false
	}
	r.Body = readAhead{bytes.NewReader(buf)}
	return true
}

// readAhead is a request body readBody read into memory. The proxy forwards it as the bare
// in-memory reader (see newReverseProxy's Rewrite): net/http writes the headers and a body it
// knows to be in memory in one write, but the reverse proxy wraps the outgoing body in a reader of
// its own, which net/http cannot see into, so it flushed the headers on their own first and then
// copied the body through a fresh 32 KiB buffer — two writes and an allocation per call.
type readAhead struct{ *bytes.Reader }

func (readAhead) Close() error { return nil }

// inMemoryBody is the largest unary request body read into memory before it is forwarded.
const inMemoryBody = 64 << 10

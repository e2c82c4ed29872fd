package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1/authv1connect"
)

// Refresh tokens in a cookie, for browsers (docs/auth.md, "Browser clients"). A call that carries
// RefreshCookieHeader: 1 has the refresh token of its answer moved into an httpOnly cookie (and
// blanked in the body), and an empty refresh_token in a RefreshToken or Logout request filled from
// that cookie. A page's scripts then never hold the long-lived credential.
const (
	RefreshCookieHeader = "X-Parley-Refresh-Cookie"
	RefreshCookieName   = "parley_refresh"
)

// refreshCookiePaths are the only paths the browser sends the cookie to.
var refreshCookiePaths = []string{
	APIPrefix + authv1connect.AuthServiceRefreshTokenProcedure,
	APIPrefix + authv1connect.AuthServiceLogoutProcedure,
}

// cookieCall is what cookie mode does to one procedure's calls.
type cookieCall struct {
	// request, when set, is the request type, whose empty refresh_token is filled from the cookie.
	request func() proto.Message
	// response, when set, is the answer type, whose tokens.refresh_token moves into the cookie.
	response func() proto.Message
	// clear: a successful call ends the session, and the cookie with it.
	clear bool
}

var cookieCalls = map[string]cookieCall{
	authv1connect.AuthServiceRegisterProcedure:           {response: func() proto.Message { return new(authv1.RegisterResponse) }},
	authv1connect.AuthServiceLoginProcedure:              {response: func() proto.Message { return new(authv1.LoginResponse) }},
	authv1connect.AuthServiceCompleteOAuthProcedure:      {response: func() proto.Message { return new(authv1.CompleteOAuthResponse) }},
	authv1connect.AuthServiceCompleteTwoFactorProcedure:  {response: func() proto.Message { return new(authv1.CompleteTwoFactorResponse) }},
	authv1connect.AuthServiceFinishPasskeyLoginProcedure: {response: func() proto.Message { return new(authv1.FinishPasskeyLoginResponse) }},
	authv1connect.AuthServiceRefreshTokenProcedure: {
		request:  func() proto.Message { return new(authv1.RefreshTokenRequest) },
		response: func() proto.Message { return new(authv1.RefreshTokenResponse) },
	},
	authv1connect.AuthServiceLogoutProcedure: {
		request: func() proto.Message { return new(authv1.LogoutRequest) },
		clear:   true,
	},
}

// refreshCookie is one call in cookie mode.
type refreshCookie struct {
	call   cookieCall
	codec  messageCodec
	secure bool
}

// cookieMode reports whether r asks for cookie mode on a procedure that has it, or answers the
// call itself (false, true) when it asks in a way the gateway cannot honour. secure is the
// cookie's Secure attribute (Options.InsecureRefreshCookie).
func cookieMode(w http.ResponseWriter, r *http.Request, proc Procedure, secure bool) (rc *refreshCookie, answered bool) {
	v := r.Header.Get(RefreshCookieHeader)
	if v == "" {
		return nil, false
	}
	call, ok := cookieCalls[proc.Path]
	if !ok {
		return nil, false // nothing to move: the header is dropped like every X-Parley-* one
	}
	// A JSON or binary Content-Type is Connect unary's (protocolOf): gRPC, gRPC-Web and Connect
	// streaming have their own.
	codec, ok := codecOf(r.Header.Get("Content-Type"))
	if v != "1" || !ok || r.Method != http.MethodPost || !identityEncoding(r.Header.Get("Content-Encoding")) {
		writeRPCError(w, r, connect.CodeInvalidArgument, RefreshCookieHeader+
			": 1, on an uncompressed Connect unary POST with a JSON or binary body only", 0)
		return nil, true
	}
	return &refreshCookie{call: call, codec: codec, secure: secure}, false
}

// fillRefreshToken puts the cookie's refresh token into a request whose refresh_token is empty,
// or answers the call itself and reports false.
func (g *Gateway) fillRefreshToken(w http.ResponseWriter, r *http.Request, rc *refreshCookie) bool {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		g.proxyError(w, r, err) // too large, or the client went away
		return false
	}
	msg := rc.call.request()
	if err := rc.codec.unmarshal(raw, msg); err != nil {
		writeRPCError(w, r, connect.CodeInvalidArgument, "request body: "+err.Error(), 0)
		return false
	}
	m := msg.ProtoReflect()
	field := m.Descriptor().Fields().ByName("refresh_token")
	if c, err := r.Cookie(RefreshCookieName); err == nil && m.Get(field).String() == "" {
		m.Set(field, protoreflect.ValueOfString(c.Value))
		if raw, err = rc.codec.marshal(msg); err != nil {
			writeRPCError(w, r, connect.CodeInternal, "request body: "+err.Error(), 0)
			return false
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	r.ContentLength = int64(len(raw))
	return true
}

// moveRefreshToken moves the refresh token of a successful answer into the cookie, and clears
// the cookie when the session ended (Logout) or its token was refused.
func moveRefreshToken(res *http.Response, rc *refreshCookie) error {
	switch {
	case res.StatusCode == http.StatusUnauthorized && rc.call.request != nil:
		setRefreshCookies(res.Header, "", time.Time{}, rc.secure) // a dead token: forget it
		return nil
	case res.StatusCode != http.StatusOK:
		return nil
	case rc.call.clear:
		setRefreshCookies(res.Header, "", time.Time{}, rc.secure)
		return nil
	case rc.call.response == nil:
		return nil
	}
	if !identityEncoding(res.Header.Get("Content-Encoding")) {
		// The request asked for identity; a service that compresses anyway is not understood.
		return fmt.Errorf("refresh cookie: %s answered with Content-Encoding %q", res.Request.URL.Path, res.Header.Get("Content-Encoding"))
	}
	codec, ok := codecOf(res.Header.Get("Content-Type"))
	if !ok {
		return fmt.Errorf("refresh cookie: %s answered with Content-Type %q", res.Request.URL.Path, res.Header.Get("Content-Type"))
	}
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxCookieAnswer+1))
	_ = res.Body.Close()
	if err != nil {
		return fmt.Errorf("refresh cookie: read the answer: %w", err)
	}
	if len(raw) > maxCookieAnswer {
		return errors.New("refresh cookie: the answer is too large")
	}
	msg := rc.call.response()
	if err := codec.unmarshal(raw, msg); err != nil {
		return fmt.Errorf("refresh cookie: decode the answer: %w", err)
	}
	if tokens := msg.(interface{ GetTokens() *authv1.Tokens }).GetTokens(); tokens.GetRefreshToken() != "" {
		setRefreshCookies(res.Header, tokens.GetRefreshToken(), tokens.GetRefreshTokenExpiresAt().AsTime(), rc.secure)
		tokens.RefreshToken = ""
		if raw, err = codec.marshal(msg); err != nil {
			return fmt.Errorf("refresh cookie: encode the answer: %w", err)
		}
	} // else a second factor is asked for: no session yet
	res.Body = io.NopCloser(bytes.NewReader(raw))
	res.ContentLength = int64(len(raw))
	res.Header.Set("Content-Length", strconv.Itoa(len(raw)))
	return nil
}

// maxCookieAnswer bounds the answers read whole (a session's tokens and a user id: well under 4 KiB).
const maxCookieAnswer = 64 << 10

// setRefreshCookies sets the cookie on each path it is sent to, or, for an empty value, removes it.
// HttpOnly: no script reads it. SameSite=Strict: no other site's page sends it. Secure unless
// configured off (REFRESH_COOKIE_SECURE=false: plain http in development).
func setRefreshCookies(h http.Header, value string, expires time.Time, secure bool) {
	maxAge := -1 // remove
	if value != "" {
		maxAge = 0 // a session cookie, when the answer says no expiry
		if !expires.IsZero() && expires.Unix() > 0 {
			maxAge = max(1, int(time.Until(expires).Seconds()))
		}
	}
	for _, p := range refreshCookiePaths {
		c := &http.Cookie{
			Name: RefreshCookieName, Value: value, Path: p, MaxAge: maxAge,
			HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode,
		}
		h.Add("Set-Cookie", c.String())
	}
}

func identityEncoding(v string) bool { return v == "" || strings.EqualFold(v, "identity") }

// messageCodec reads and writes Connect unary bodies as connect-go's codecs do: binary protobuf,
// or protojson (unknown fields ignored on the way in).
type messageCodec struct{ json bool }

func codecOf(contentType string) (messageCodec, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	switch {
	case err != nil:
		return messageCodec{}, false
	case mt == "application/json":
		return messageCodec{json: true}, true
	case mt == "application/proto":
		return messageCodec{}, true
	}
	return messageCodec{}, false
}

func (c messageCodec) unmarshal(b []byte, m proto.Message) error {
	if c.json {
		return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, m)
	}
	return proto.Unmarshal(b, m)
}

func (c messageCodec) marshal(m proto.Message) ([]byte, error) {
	if c.json {
		return protojson.Marshal(m)
	}
	return proto.Marshal(m)
}

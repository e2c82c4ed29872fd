package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"

	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/logging"
	"github.com/parleyhq/parley/services/gateway/internal/gateway"
)

// Path is where the endpoint is mounted: the path the gateway keeps from its web app.
const Path = gateway.WebSocketPath

// presenceQueryMax bounds the user ids of one presence_query.
const presenceQueryMax = 100

// Serve is the GET /ws handler: it upgrades the request and authenticates and registers the
// connection, then hands its reads to a goroutine of its own and returns: nothing of the HTTP
// request (echo's context, the middleware's frames, a stack grown through them) stays alive for
// as long as the connection does. The access-log line is written when the connection is ready or
// refused, with the user.
func (h *Hub) Serve(ec echo.Context) error {
	r := ec.Request()
	token, offered, hasV1 := parseSubprotocols(r.Header)
	if offered && !hasV1 {
		return ec.JSON(http.StatusBadRequest, map[string]string{
			"code": codeInvalidArgument, "message": "offer the " + Subprotocol + " WebSocket subprotocol",
		})
	}
	if token == "" {
		token = authn.BearerToken(r.Header.Get("Authorization"))
	}
	h.mu.Lock()
	if h.base.Err() != nil {
		h.mu.Unlock()
		return ec.JSON(http.StatusServiceUnavailable, map[string]string{"code": codeUnavailable, "message": "gateway shutting down"})
	}
	h.wg.Add(1)
	h.mu.Unlock()
	reading := false // once the reader goroutine runs, it says when the connection is done
	defer func() {
		if !reading {
			h.wg.Done()
		}
	}()

	ws, err := websocket.Accept(ec.Response(), r, &websocket.AcceptOptions{
		Subprotocols:    []string{Subprotocol},
		OriginPatterns:  h.origins,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		// Accept has answered (403 for a foreign Origin, 400/426 for a non-WebSocket request).
		logging.AddAttrs(r.Context(), slog.String("error", "websocket: "+err.Error()))
		return nil
	}
	ws.SetReadLimit(h.opts.MaxFrameBytes)
	c := newConn(h, ws)
	defer func() {
		if !reading {
			// Refused, or a panic on the way (echo recovers it): every way out that does not hand
			// the connection to its reader ends the connection and releases its context here, so
			// no refusal path can leave one behind (OpenSockets; TestRefusedConnectionsLeaveNothing).
			c.close(websocket.StatusNormalClosure, "")
			c.stopTimers()
		}
	}()
	if !h.open(c, r, token) {
		return nil
	}
	reading = true
	go func() {
		defer h.wg.Done()
		defer c.close(websocket.StatusNormalClosure, "")
		defer c.stopTimers()
		defer h.finish(c)
		h.readLoop(c)
	}()
	return nil
}

// OpenSockets returns how many WebSockets this gateway has accepted and not yet closed and
// released, authenticated or not (Connections counts only the registered ones). It returns to
// zero once every client is gone: a refused connection that stayed open would show here.
func (h *Hub) OpenSockets() int64 { return h.sockets.Load() }

// parseSubprotocols reads Sec-WebSocket-Protocol: the bearer token, whether any subprotocol was
// offered, and whether parley.v1 was.
func parseSubprotocols(hd http.Header) (token string, offered, hasV1 bool) {
	for _, v := range hd.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			p = strings.TrimSpace(p)
			switch {
			case p == "":
			case p == Subprotocol:
				offered, hasV1 = true, true
			case strings.HasPrefix(p, bearerPrefix):
				offered = true
				token = strings.TrimPrefix(p, bearerPrefix)
			default:
				offered = true
			}
		}
	}
	return token, offered, hasV1
}

// open authenticates c, registers it with its user and sends ready. It reports false when it
// refused (and closed) the connection.
func (h *Hub) open(c *conn, r *http.Request, token string) bool {
	ref := ""
	if token == "" {
		var ok bool
		token, ref, ok = h.readAuthFrame(c)
		if !ok {
			c.drain()
			return false
		}
	}
	p, cerr := h.opts.Verifier.VerifyToken(c.ctx, token)
	if cerr != nil {
		if cerr.Code() == connect.CodeUnavailable {
			c.close(CloseTryAgainLater, "cannot verify the access token now, try again later")
		} else {
			c.close(CloseUnauthenticated, "invalid or expired access token")
		}
		c.drain()
		return false
	}
	gateway.SetUser(r.Context(), p.UserID)
	exp := p.Expiry
	c.setAuth(p, exp)

	now := time.Now()
	prev, ok, err := h.store.connect(c.ctx, p.UserID, c.id, h.opts.MaxConnsPerUser, now)
	switch {
	case err != nil:
		logging.AddAttrs(r.Context(), slog.String("error", "realtime: "+err.Error()))
		c.close(CloseTryAgainLater, "realtime delivery unavailable, try again later")
		c.drain()
		return false
	case !ok:
		c.close(CloseTooManyConnections, "too many connections: at most "+strconv.Itoa(h.opts.MaxConnsPerUser))
		c.drain()
		return false
	}
	registered := false
	defer func() {
		if !registered {
			h.finish(c)
		}
	}()

	// Subscribe before anything else, so no frame published from here on is missed; then check
	// the session, whose revocation is marked before it is announced on the channel.
	if _, err := h.attach(c.ctx, c); err != nil {
		if errors.Is(err, errShuttingDown) {
			c.close(CloseGoingAway, "gateway shutting down, reconnect")
			c.drain()
			return false
		}
		logging.AddAttrs(r.Context(), slog.String("error", "realtime: "+err.Error()))
		c.close(CloseTryAgainLater, "realtime delivery unavailable, try again later")
		c.drain()
		return false
	}
	if revoked, err := h.revoked.Revoked(c.ctx, p.SessionID); err == nil && revoked {
		c.close(CloseSessionRevoked, "session revoked: sign in again")
		c.drain()
		return false
	}
	h.loadFriends(c)
	if prev == 0 {
		h.publishPresence(c.ctx, p.UserID, h.friendList(p.UserID), true, now)
	}
	c.ready(mustJSON(readyFrame{
		Type: TypeReady, Ref: ref, Protocol: Subprotocol, ConnID: c.id, UserID: p.UserID, SessionID: p.SessionID, ExpiresAt: exp,
		Limits: limits{
			SendBuffer: h.opts.SendBuffer, MaxFrameBytes: h.opts.MaxFrameBytes, SyncMaxChats: h.opts.SyncMaxChats,
			SyncMaxMessages: h.opts.SyncMaxMessages, TypingIntervalMs: h.opts.TypingInterval.Milliseconds(),
			PresenceQueryMax: presenceQueryMax,
		},
	}))
	c.startPings()
	registered = true
	return true
}

// readLoop reads and answers client frames until the connection closes.
func (h *Hub) readLoop(c *conn) {
	for {
		typ, data, err := c.ws.Read(c.ctx)
		if err != nil {
			return
		}
		if !c.limiter.Allow() {
			c.sendError("", codeResourceExhausted, fmt.Sprintf("too many frames: at most %g per second", h.opts.FrameRate))
			continue
		}
		if typ != websocket.MessageText {
			c.sendError("", codeInvalidArgument, "frames are JSON text messages")
			continue
		}
		var f clientFrame
		if err := json.Unmarshal(data, &f); err != nil {
			c.sendError(undecodable(f.Ref, err))
			continue
		}
		canonicalIDs(&f)
		h.handle(c, f)
	}
}

// undecodable is the error frame for a text frame that did not decode: a JSON object with a field
// of the wrong type says which field and keeps the frame's ref (a client may well send last_seq
// as "41", the way protobuf JSON writes seq); anything else is not a JSON object. ref is what
// decoding read: encoding/json skips a mistyped field and decodes the rest.
func undecodable(ref string, err error) (_, code, message string) {
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) || typeErr.Field == "" {
		return "", codeInvalidArgument, "frame is not a JSON object: " + err.Error()
	}
	return ref, codeInvalidArgument, fmt.Sprintf("%s: must be %s, got a JSON %s", typeErr.Field, jsonKind(typeErr.Type), typeErr.Value)
}

// jsonKind names what a Go type decodes from in the words of JSON.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number" // 41.5 and 1e20 land here too: "got a JSON number 41.5"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}

// canonicalIDs writes the ids of a client frame in their canonical form, lower case, which is how
// the services write them and how live frames carry them. Everything after decoding (the live-
// frame hold of a sync, the chat cache and its budget, duplicate checks, relayed frames, replies)
// then sees one spelling per id: an upper-case chat id in a sync would otherwise miss the hold of
// the chat's live frames.
func canonicalIDs(f *clientFrame) {
	f.ChatID = strings.ToLower(f.ChatID)
	for i := range f.Chats {
		f.Chats[i].ChatID = strings.ToLower(f.Chats[i].ChatID)
	}
	for i := range f.UserIDs {
		f.UserIDs[i] = strings.ToLower(f.UserIDs[i])
	}
}

// readAuthFrame waits AuthTimeout for the first frame, which must be an auth frame.
func (h *Hub) readAuthFrame(c *conn) (token, ref string, ok bool) {
	timer := time.AfterFunc(h.opts.AuthTimeout, func() {
		c.close(CloseUnauthenticated, "no auth frame within "+h.opts.AuthTimeout.String())
	})
	defer timer.Stop()
	typ, data, err := c.ws.Read(c.ctx)
	if err != nil {
		return "", "", false
	}
	var f clientFrame
	if typ != websocket.MessageText || json.Unmarshal(data, &f) != nil || f.Type != TypeAuth || f.Token == "" {
		c.close(CloseUnauthenticated, `the first frame must be {"type":"auth","token":"<access token>"}`)
		return "", "", false
	}
	return f.Token, f.Ref, true
}

// finish unregisters a connection that was registered; the user's last connection anywhere
// makes them offline for their friends.
func (h *Hub) finish(c *conn) {
	c.close(websocket.StatusNormalClosure, "")
	friends := h.detach(c)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(h.base), h.opts.RedisTimeout)
	defer cancel()
	now := time.Now()
	left, err := h.store.disconnect(ctx, c.userID, c.id, now)
	if err != nil {
		c.logger().Warn("realtime: cannot unregister connection; it expires by itself", slog.Any("error", err))
		return
	}
	if left == 0 {
		h.publishPresence(ctx, c.userID, friends, false, now)
	}
}

func (h *Hub) friendList(userID string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if us := h.users[userID]; us != nil {
		return keys(us.friends)
	}
	return nil
}

// handle answers one client frame.
func (h *Hub) handle(c *conn, f clientFrame) {
	switch f.Type {
	case TypePing:
		c.reply(refFrame{Type: TypePong, Ref: f.Ref})
	case TypeTyping:
		h.typing.relay(c, f)
	case TypePresenceQuery:
		h.presenceQuery(c, f)
	case TypeSync:
		if !c.syncBusy.CompareAndSwap(false, true) {
			c.sendError(f.Ref, codeAborted, "a sync is already running: wait for its sync_complete")
			return
		}
		// The sync frees the connection for the next one before it sends its last frame, so a
		// client that sends a sync right after sync_complete (or the refusing error) is not told
		// that one is still running; done is idempotent for the panic path.
		done := sync.OnceFunc(func() { c.syncBusy.Store(false) })
		go func() {
			defer done()
			defer func() {
				if p := recover(); p != nil { // outside echo's recovery: a bug must not take the gateway down
					c.logger().Error("realtime: sync panicked", slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
					c.close(websocket.StatusInternalError, "internal error")
				}
			}()
			h.chats.sync(c, f, done)
		}()
	case TypeAuth:
		h.reauth(c, f)
	case "":
		c.sendError(f.Ref, codeInvalidArgument, "type: required")
	default:
		c.sendError(f.Ref, codeInvalidArgument, fmt.Sprintf("type: unknown frame type %q", f.Type))
	}
}

// reauth takes a fresh access token for the same user, so the connection outlives the first one.
func (h *Hub) reauth(c *conn, f clientFrame) {
	if f.Token == "" {
		c.sendError(f.Ref, codeInvalidArgument, "token: required")
		return
	}
	p, cerr := h.opts.Verifier.VerifyToken(c.ctx, f.Token)
	if cerr != nil {
		code := codeUnauthenticated
		if cerr.Code() == connect.CodeUnavailable {
			code = codeUnavailable
		}
		c.sendError(f.Ref, code, cerr.Message())
		return
	}
	if p.UserID != c.userID {
		c.close(CloseUnauthenticated, "the new token belongs to another user")
		return
	}
	if revoked, err := h.revoked.Revoked(c.ctx, p.SessionID); err == nil && revoked {
		c.close(CloseSessionRevoked, "session revoked: sign in again")
		return
	}
	exp := p.Expiry
	c.setAuth(p, exp)
	c.reply(authOKFrame{Type: TypeAuthOK, Ref: f.Ref, SessionID: p.SessionID, ExpiresAt: exp})
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func validID(s string) bool { return uuidPattern.MatchString(s) }

// presenceQuery answers with the presence of those of the asked users who are the caller's
// friends; everyone else is left out.
func (h *Hub) presenceQuery(c *conn, f clientFrame) {
	if len(f.UserIDs) > presenceQueryMax {
		c.sendError(f.Ref, codeInvalidArgument, "user_ids: at most "+strconv.Itoa(presenceQueryMax))
		return
	}
	seen := map[string]bool{}
	var ids []string
	for i, id := range f.UserIDs {
		if !validID(id) {
			c.sendError(f.Ref, codeInvalidArgument, fmt.Sprintf("user_ids[%d]: must be a user id (UUID)", i))
			return
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	// The friend list is normally loaded at connect; when that failed, a query tries again, from
	// the budget (without budget left, the answer uses what is known).
	if !h.friendsLoaded(c.userID) && h.chats.cache.spend(c.userID, time.Now()) {
		h.loadFriends(c)
	}
	entries, err := h.store.presence(c.ctx, h.friendSubset(c.userID, ids), time.Now())
	if err != nil {
		c.sendError(f.Ref, codeUnavailable, "presence is unavailable now")
		return
	}
	if entries == nil {
		entries = []presenceEntry{}
	}
	c.reply(presenceResultFrame{Type: TypePresenceResult, Ref: f.Ref, Presence: entries})
}

func (h *Hub) friendsLoaded(userID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	us := h.users[userID]
	return us != nil && us.friendsLoaded
}

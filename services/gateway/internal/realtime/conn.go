package realtime

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/parleyhq/parley/platform/authn"
)

// conn is one client's WebSocket connection.
//
// An idle connection costs its reader (the handler goroutine, blocked in Read), the WebSocket's
// buffers and this struct — nothing else: no writer or pinger goroutine waits on it. Frames are
// queued and written by a goroutine that exists only while the queue has frames; the keep-alive
// ping is a timer. Live frames (from Redis) are queued without ever blocking the hub: a queue of
// SendBuffer frames means the client does not keep up, and it is disconnected with
// CloseSlowConsumer. Replies to a sync are written by the sync itself, frame by frame (the
// WebSocket serialises concurrent writes), so a long replay neither fills the live queue nor gets
// reordered inside a chat: while a chat is being synced, that chat's live frames are held and
// sent after the replay, without the messages the replay already contained.
type conn struct {
	h      *Hub
	ws     *websocket.Conn
	id     string
	userID string

	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	sessionID string
	tok       string
	expiry    *time.Timer
	holding   bool // before ready: every frame is held
	held      []heldFrame
	syncing   map[string][]heldFrame // chat being synced → its frames that arrived meanwhile (nil when none)
	heldCount int
	// upTo is, per chat, the highest message seq this connection has given the client: sent
	// live, replayed by a sync, or below the last_seq the client synced from. A message frame
	// at or below it is a repeat and is dropped: the fan-out can reach a connection after its
	// sync has replayed the same messages from the chat service (events wait in Kafka while a
	// gateway restarts and the group rebalances, then flow again). See repeat.
	upTo map[string]int64

	wmu     sync.Mutex
	queue   [][]byte // frames for the writer, nil when empty
	writing bool     // a writer goroutine is draining queue

	pingTimer *time.Timer
	closing   atomic.Bool
	closeOnce sync.Once
	closed    chan struct{}
	limiter   *rate.Limiter
	syncBusy  atomic.Bool
}

type heldFrame struct {
	r       route
	payload []byte
}

func newConn(h *Hub, ws *websocket.Conn) *conn {
	c := &conn{
		h:       h,
		ws:      ws,
		id:      newID(),
		holding: true,
		closed:  make(chan struct{}),
		limiter: rate.NewLimiter(rate.Limit(h.opts.FrameRate), h.opts.FrameBurst),
	}
	c.ctx, c.cancel = context.WithCancel(h.base)
	h.sockets.Add(1)
	return c
}

// logger is the hub's logger with the connection and its user, built when something is logged
// rather than kept per connection. (userID is set once, before the connection is attached.)
func (c *conn) logger() *slog.Logger {
	return c.h.log.With("conn", c.id, "user", c.userID)
}

func (c *conn) session() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessionID
}

func (c *conn) token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tok
}

// setAuth records the connection's (new) credentials and closes it when they expire.
func (c *conn) setAuth(p authn.Principal, exp time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.userID = p.UserID
	c.sessionID = p.SessionID
	c.tok = p.Token
	if c.expiry != nil {
		c.expiry.Stop()
		c.expiry = nil
	}
	if !exp.IsZero() {
		c.expiry = time.AfterFunc(time.Until(exp), func() {
			c.close(CloseTokenExpired, "access token expired: send a fresh one in an auth frame before it expires")
		})
	}
}

// deliver queues a live frame without blocking.
func (c *conn) deliver(r route, payload []byte) {
	if c.closing.Load() {
		return
	}
	c.mu.Lock()
	if c.holding {
		c.hold(nil, r, payload)
		c.mu.Unlock()
		return
	}
	if r.ChatID != "" && c.syncing != nil {
		if q, ok := c.syncing[r.ChatID]; ok {
			c.hold(q, r, payload)
			c.mu.Unlock()
			return
		}
	}
	if c.repeat(r) {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.enqueue(payload)
}

// maxTrackedChats bounds upTo: past it, messages of further chats are not checked for repeats
// (clients still key messages by seq), so a connection's memory stays bounded.
const maxTrackedChats = 4096

// repeat reports whether r is a message frame this connection has already given the client (at
// or below the chat's upTo), and otherwise records its seq (c.mu held). Within a chat, frames
// come in seq order, so anything at or below the highest seq sent is a repeat.
func (c *conn) repeat(r route) bool {
	if r.Type != TypeMessage || r.ChatID == "" || r.Seq <= 0 {
		return false
	}
	last, ok := c.upTo[r.ChatID]
	if ok && r.Seq <= last {
		return true
	}
	if !ok && len(c.upTo) >= maxTrackedChats {
		return false
	}
	if c.upTo == nil {
		c.upTo = map[string]int64{}
	}
	c.upTo[r.ChatID] = r.Seq
	return false
}

// hold keeps a frame back (c.mu held): q is the chat's queue, or nil for the pre-ready queue.
func (c *conn) hold(q []heldFrame, r route, payload []byte) {
	if c.heldCount >= c.h.opts.SendBuffer {
		go c.slow()
		return
	}
	c.heldCount++
	if c.holding {
		c.held = append(c.held, heldFrame{r, payload})
		return
	}
	c.syncing[r.ChatID] = append(q, heldFrame{r, payload})
}

// enqueue queues a frame for the writer, starting one if none runs; a full queue disconnects the
// client.
func (c *conn) enqueue(payload []byte) {
	c.wmu.Lock()
	if c.closing.Load() {
		c.wmu.Unlock()
		return
	}
	if len(c.queue) >= c.h.opts.SendBuffer {
		c.wmu.Unlock()
		c.slow()
		return
	}
	c.queue = append(c.queue, payload)
	start := !c.writing
	c.writing = true
	c.wmu.Unlock()
	if start {
		go c.writeQueued()
	}
}

// writeQueued writes queued frames until the queue is empty (then the goroutine ends) or the
// connection closes.
func (c *conn) writeQueued() {
	for {
		c.wmu.Lock()
		if len(c.queue) == 0 || c.closing.Load() {
			c.queue = nil // an idle connection keeps no backing array
			c.writing = false
			c.wmu.Unlock()
			return
		}
		f := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.wmu.Unlock()
		if !c.write(f) {
			c.wmu.Lock()
			c.queue, c.writing = nil, false
			c.wmu.Unlock()
			return
		}
	}
}

// write writes one frame within WriteTimeout; a failed write closes the connection.
func (c *conn) write(f []byte) bool {
	if c.closing.Load() {
		return false
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.h.opts.WriteTimeout)
	err := c.ws.Write(ctx, websocket.MessageText, f)
	cancel()
	if err != nil {
		c.logger().Debug("realtime: write failed", slog.Any("error", err))
		c.close(websocket.StatusInternalError, "write failed")
		return false
	}
	c.h.frames.Add(1)
	return true
}

func (c *conn) slow() {
	if c.closing.Load() {
		return
	}
	c.h.slowCloses.Add(1)
	c.logger().Warn("realtime: closing slow consumer", slog.Int("send_buffer", c.h.opts.SendBuffer))
	c.close(CloseSlowConsumer, "slow consumer: send buffer full")
}

// ready sends the ready frame, then everything held since the connection was authenticated.
func (c *conn) ready(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	held := c.held
	c.held = nil
	c.holding = false
	c.heldCount -= len(held)
	c.enqueue(frame)
	for _, f := range held {
		if !c.repeat(f.r) {
			c.enqueue(f.payload)
		}
	}
}

// beginSync holds chat's live frames until endSync.
func (c *conn) beginSync(chat string) {
	c.mu.Lock()
	if c.syncing == nil {
		c.syncing = map[string][]heldFrame{}
	}
	c.syncing[chat] = []heldFrame{}
	c.mu.Unlock()
}

// endSync sends the chat's held frames, without messages up to upTo (the replay had them, or
// the client said it had them), and ends holding. answered says the sync replayed messages or
// sent sync_done: then live copies of messages up to upTo that reach the connection later are
// dropped too (upTo), as repeats. (A sync refused before that records nothing, so that chat ids
// which are not the user's take no memory.)
func (c *conn) endSync(chat string, upTo int64, answered bool) {
	if answered {
		c.mu.Lock()
		c.repeat(route{Type: TypeMessage, ChatID: chat, Seq: upTo})
		c.mu.Unlock()
	}
	for {
		c.mu.Lock()
		q := c.syncing[chat]
		if len(q) == 0 {
			delete(c.syncing, chat)
			if len(c.syncing) == 0 {
				c.syncing = nil
			}
			c.mu.Unlock()
			return
		}
		c.syncing[chat] = []heldFrame{}
		c.heldCount -= len(q)
		var send [][]byte
		for _, f := range q {
			if f.r.Type == TypeMessage && f.r.Seq <= upTo || c.repeat(f.r) {
				continue
			}
			send = append(send, f.payload)
		}
		c.mu.Unlock()
		for _, payload := range send {
			if !c.sendSync(payload) {
				return
			}
		}
	}
}

// sendSync writes a frame of a sync reply at once, beside the live queue; false when the
// connection is closing.
func (c *conn) sendSync(payload []byte) bool { return c.write(payload) }

// startPings checks the client is alive every PingInterval, with a timer rather than a goroutine
// per connection: the ping runs (and waits for its pong) only when the timer fires.
func (c *conn) startPings() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing.Load() || c.pingTimer != nil {
		return
	}
	c.pingTimer = time.AfterFunc(c.h.opts.PingInterval, c.ping)
}

func (c *conn) ping() {
	if c.closing.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.h.opts.PingTimeout)
	err := c.ws.Ping(ctx)
	cancel()
	if err != nil {
		if !c.closing.Load() {
			c.logger().Debug("realtime: ping failed", slog.Any("error", err))
		}
		c.close(websocket.StatusPolicyViolation, "no pong in time")
		return
	}
	c.mu.Lock()
	if !c.closing.Load() {
		c.pingTimer.Reset(c.h.opts.PingInterval)
	}
	c.mu.Unlock()
}

// close starts the close handshake with code once; the reader then sees the end of the
// connection. Nothing is written after it. It is the one thing that releases a connection (its
// socket and its context): every way out of Serve ends in it, and OpenSockets counts the
// connections it has not finished with.
func (c *conn) close(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		close(c.closed)
		go func() {
			defer c.h.sockets.Add(-1)
			_ = c.ws.Close(code, reason)
			c.cancel()
		}()
	})
}

// stopTimers stops the expiry and ping timers (when the connection is over).
func (c *conn) stopTimers() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.expiry != nil {
		c.expiry.Stop()
	}
	if c.pingTimer != nil {
		c.pingTimer.Stop()
	}
}

// drain reads until the connection has closed (so the close handshake completes).
func (c *conn) drain() {
	for {
		if _, _, err := c.ws.Read(c.ctx); err != nil {
			return
		}
	}
}

// reply queues a reply frame.
func (c *conn) reply(v any) { c.enqueue(mustJSON(v)) }

func (c *conn) sendError(ref, code, msg string) {
	c.reply(errorFrame{Type: TypeError, Ref: ref, Code: code, Message: msg})
}

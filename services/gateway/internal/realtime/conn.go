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
// Frames leave through one writer goroutine. Live frames (from Redis) are queued without ever
// blocking the hub: a full queue (SendBuffer frames) means the client does not keep up, and it is
// disconnected with CloseSlowConsumer. Replies to a sync are handed to the writer one by one
// (syncSend), so a long replay neither fills the live queue nor gets reordered inside a chat:
// while a chat is being synced, that chat's live frames are held and sent after the replay,
// without the messages the replay already contained.
type conn struct {
	h      *Hub
	ws     *websocket.Conn
	id     string
	userID string
	log    *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	sessionID string
	tok       string
	expiry    *time.Timer
	holding   bool // before ready: every frame is held
	held      []heldFrame
	syncing   map[string][]heldFrame // chat being synced → its frames that arrived meanwhile
	heldCount int

	send      chan []byte
	syncSend  chan []byte
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
		h:        h,
		ws:       ws,
		id:       newID(),
		holding:  true,
		syncing:  map[string][]heldFrame{},
		send:     make(chan []byte, h.opts.SendBuffer),
		syncSend: make(chan []byte),
		closed:   make(chan struct{}),
		limiter:  rate.NewLimiter(rate.Limit(h.opts.FrameRate), h.opts.FrameBurst),
	}
	c.ctx, c.cancel = context.WithCancel(h.base)
	c.log = h.log.With("conn", c.id)
	return c
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
	if r.ChatID != "" {
		if q, ok := c.syncing[r.ChatID]; ok {
			c.hold(q, r, payload)
			c.mu.Unlock()
			return
		}
	}
	c.mu.Unlock()
	c.enqueue(payload)
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

// enqueue queues a frame for the writer; a full queue disconnects the client.
func (c *conn) enqueue(payload []byte) {
	select {
	case c.send <- payload:
	default:
		c.slow()
	}
}

func (c *conn) slow() {
	if c.closing.Load() {
		return
	}
	c.h.slowCloses.Add(1)
	c.log.Warn("realtime: closing slow consumer", slog.String("user", c.userID), slog.Int("send_buffer", c.h.opts.SendBuffer))
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
		c.enqueue(f.payload)
	}
}

// beginSync holds chat's live frames until endSync.
func (c *conn) beginSync(chat string) {
	c.mu.Lock()
	c.syncing[chat] = []heldFrame{}
	c.mu.Unlock()
}

// endSync sends the chat's held frames, without messages up to upTo (the replay had them), and
// ends holding.
func (c *conn) endSync(chat string, upTo int64) {
	for {
		c.mu.Lock()
		q := c.syncing[chat]
		if len(q) == 0 {
			delete(c.syncing, chat)
			c.mu.Unlock()
			return
		}
		c.syncing[chat] = []heldFrame{}
		c.heldCount -= len(q)
		c.mu.Unlock()
		for _, f := range q {
			if f.r.Type == TypeMessage && f.r.Seq <= upTo {
				continue
			}
			if !c.sendSync(f.payload) {
				return
			}
		}
	}
}

// sendSync hands a frame to the writer, waiting for it; false when the connection is closing.
func (c *conn) sendSync(payload []byte) bool {
	select {
	case c.syncSend <- payload:
		return true
	case <-c.closed:
		return false
	}
}

// writer writes queued frames until the connection closes.
func (c *conn) writer() {
	for {
		var f []byte
		select {
		case <-c.closed:
			return
		case f = <-c.send:
		case f = <-c.syncSend:
		}
		if c.closing.Load() {
			return
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.h.opts.WriteTimeout)
		err := c.ws.Write(ctx, websocket.MessageText, f)
		cancel()
		if err != nil {
			c.log.Debug("realtime: write failed", slog.Any("error", err))
			c.close(websocket.StatusInternalError, "write failed")
			return
		}
	}
}

// pinger checks the client is alive every PingInterval.
func (c *conn) pinger() {
	t := time.NewTicker(c.h.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.h.opts.PingTimeout)
		err := c.ws.Ping(ctx)
		cancel()
		if err != nil {
			c.log.Debug("realtime: ping failed", slog.Any("error", err))
			c.close(websocket.StatusPolicyViolation, "no pong in time")
			return
		}
	}
}

// close starts the close handshake with code once; the reader then sees the end of the
// connection. Nothing is written after it.
func (c *conn) close(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		close(c.closed)
		go func() {
			_ = c.ws.Close(code, reason)
			c.cancel()
		}()
	})
}

// stopTimers stops the expiry timer (when the connection is over).
func (c *conn) stopTimers() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.expiry != nil {
		c.expiry.Stop()
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

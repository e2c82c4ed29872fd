package conversation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Device is one person's app on a WebSocket: it keeps the messages of its chat by seq, resumes
// with sync after every reconnection (through the Scenario's Entry), and checks what each
// connection delivers against the protocol (docs/realtime.md#catching-up-after-a-reconnect).
type Device struct {
	p      Person
	chatID string
	entry  string // the gateway's entry point (its balancer), where reconnections go
	wait   time.Duration
	ctx    context.Context
	cancel context.CancelFunc

	mu          sync.Mutex
	received    map[int64]string   // seq → message id
	receipts    map[int64][]string // seq → each receipt: connection, replay or live, event id
	connections int
	syncs       int                    // connections that got their sync_done and sync_complete
	cutShort    int                    // connections closed with 1001 before their sync completed
	closes      []websocket.StatusCode // how each connection that ended was closed
	problems    []string
	conn        *websocket.Conn
}

// NewDevice is p's device for chatID, not yet connected.
func (s *Scenario) NewDevice(p Person, chatID string) *Device {
	ctx, cancel := context.WithCancel(context.Background())
	return &Device{p: p, chatID: chatID, entry: s.Entry, wait: s.Wait, ctx: ctx, cancel: cancel, received: map[int64]string{}, receipts: map[int64][]string{}}
}

// Devices connects one device per person, people[j]'s to chats[j/2], the first of each pair at
// replica(1) and the second at replica(2) (each gateway replica's own address), so that every
// message crosses gateways; reconnections go through Entry, as an app's would. It waits until
// every device has synced, and closes them when t ends.
func (s *Scenario) Devices(t testing.TB, people []Person, chats []string, replica func(r int) string) []*Device {
	t.Helper()
	devices := make([]*Device, len(people))
	for i, p := range people {
		devices[i] = s.NewDevice(p, chats[i/2])
		if err := devices[i].Connect(replica(1 + i%2)); err != nil {
			t.Fatalf("%s: %v", p.Nickname, err)
		}
		t.Cleanup(devices[i].Close)
	}
	for _, d := range devices {
		d.WaitSynced(t)
	}
	return devices
}

func (d *Device) problem(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.problems = append(d.problems, fmt.Sprintf(format, args...))
}

// Problems are the departures from the protocol the device has seen.
func (d *Device) Problems() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.problems)
}

// Received is the id of the message the device holds at seq ("" if none).
func (d *Device) Received(seq int64) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.received[seq]
}

// Contiguous is the highest seq up to which the device has every message.
func (d *Device) Contiguous() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var have int64
	for d.received[have+1] != "" {
		have++
	}
	return have
}

// Close disconnects the device for good.
func (d *Device) Close() {
	d.cancel()
	d.mu.Lock()
	c := d.conn
	d.mu.Unlock()
	if c != nil {
		_ = c.Close(websocket.StatusNormalClosure, "")
	}
}

// WaitSynced waits until the device's first connection has synced.
func (d *Device) WaitSynced(t testing.TB) {
	t.Helper()
	Eventually(t, d.wait, d.p.Nickname+"'s first sync", func() (bool, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.syncs < 1 {
			return false, errors.New("not synced yet")
		}
		return true, nil
	})
}

// Connect opens the first connection at base; the device then keeps itself connected.
func (d *Device) Connect(base string) error {
	conn, n, err := d.dial(base)
	if err != nil {
		return err
	}
	go d.loop(conn, n)
	return nil
}

func (d *Device) dial(base string) (*websocket.Conn, int, error) {
	ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/ws"
	conn, res, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: []string{"parley.v1", "bearer." + d.p.Token}})
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	if err != nil {
		return nil, 0, fmt.Errorf("dial %s: %w", wsURL, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.conn = conn
	d.connections++
	return conn, d.connections, nil
}

// loop serves one connection after another until the device is closed.
func (d *Device) loop(conn *websocket.Conn, n int) {
	for {
		code := d.serve(conn, n)
		if d.ctx.Err() != nil {
			return
		}
		d.mu.Lock()
		d.closes = append(d.closes, code)
		d.mu.Unlock()
		// Reconnect at once through the entry point (another gateway answers), retrying while
		// the balancer has nobody to hand the connection to.
		deadline := time.Now().Add(30 * time.Second)
		for {
			var err error
			conn, n, err = d.dial(d.entry)
			if err == nil {
				break
			}
			if d.ctx.Err() != nil {
				return
			}
			if time.Now().After(deadline) {
				d.problem("could not reconnect for 30s: %v", err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// Frame is one server frame of the WebSocket protocol, decoded loosely: tests look at a few
// fields of each type.
type Frame map[string]any

// Type is the frame's type ("ready", "message", "sync_done"...).
func (f Frame) Type() string { s, _ := f["type"].(string); return s }

// Str is the string field key ("" if it is not one).
func (f Frame) Str(key string) string { s, _ := f[key].(string); return s }

// Num is the integer field key, sent as a number or a string (0 if it is neither).
func (f Frame) Num(key string) int64 {
	switch v := f[key].(type) {
	case float64:
		return int64(v)
	case string:
		var n int64
		_, _ = fmt.Sscan(v, &n)
		return n
	}
	return 0
}

// Message is a message frame's message.
func (f Frame) Message() Frame {
	m, _ := f["message"].(map[string]any)
	return m
}

// serve reads one connection until it ends: ready, then sync from what the device has, then the
// frames, checking the replay and the live frames after sync_done run seq by seq. It returns how
// the connection was closed.
func (d *Device) serve(conn *websocket.Conn, n int) websocket.StatusCode {
	read := func() (Frame, error) {
		_, data, err := conn.Read(d.ctx)
		if err != nil {
			return nil, err
		}
		var f Frame
		if err := json.Unmarshal(data, &f); err != nil {
			return nil, fmt.Errorf("frame %q: %w", data, err)
		}
		return f, nil
	}
	state, next := waitReady, int64(0) // next: the seq the next replayed or live frame must have
	for {
		f, err := read()
		if err != nil {
			code := websocket.CloseStatus(err)
			switch {
			case state == live || d.ctx.Err() != nil:
			case code == websocket.StatusGoingAway:
				// Its gateway stopped too (the next replica's restart began while this
				// connection was syncing): the next connection syncs.
				d.mu.Lock()
				d.cutShort++
				d.mu.Unlock()
			default:
				d.problem("connection %d ended before its sync completed: %v", n, err)
			}
			return code
		}
		switch f.Type() {
		case "ready":
			have := d.Contiguous()
			next = have + 1
			state = replaying
			data, _ := json.Marshal(map[string]any{"type": "sync", "ref": "s", "chats": []map[string]any{{"chat_id": d.chatID, "last_seq": have}}})
			if err := conn.Write(d.ctx, websocket.MessageText, data); err != nil {
				return websocket.CloseStatus(err)
			}
		case "message":
			next = d.checkMessage(n, f, state, next)
		case "sync_done":
			if state != replaying || f.Num("last_seq") != next-1 {
				d.problem("connection %d: sync_done at seq %d after replaying up to %d", n, f.Num("last_seq"), next-1)
			}
			state = live
		case "sync_complete":
			d.mu.Lock()
			d.syncs++
			d.mu.Unlock()
		case "sync_required", "error", "resync":
			d.problem("connection %d: unexpected %v", n, f)
		}
	}
}

// syncState is where a connection is in the sync protocol.
type syncState int

const (
	waitReady syncState = iota // until the gateway's ready frame
	replaying                  // from the sync request to sync_done
	live                       // after sync_done
)

// checkMessage records message frame f of connection n and checks it against the connection's
// state: replayed frames only while replaying, live ones only once live, each at next (the seq
// it must have) and never two messages at one seq. It returns the seq the next frame must have.
func (d *Device) checkMessage(n int, f Frame, state syncState, next int64) int64 {
	if f.Str("chat_id") != d.chatID {
		d.problem("a message of another chat: %v", f)
		return next
	}
	seq, id := f.Num("seq"), f.Message().Str("message_id")
	replay := f["replay"] == true
	kind := map[bool]string{true: "replayed", false: "live"}[replay]
	d.mu.Lock()
	d.receipts[seq] = append(d.receipts[seq], fmt.Sprintf("connection %d %s event %s at %s", n, kind, f.Str("id"), time.Now().Format("15:04:05.000")))
	receipts := slices.Clone(d.receipts[seq])
	d.mu.Unlock()
	switch {
	case state == replaying && replay, state == live && !replay:
		if seq != next {
			d.problem("connection %d: %s frame with seq %d, want %d (a gap or a repeat); seq %d's receipts: %v", n, kind, seq, next, seq, receipts)
		}
		next = seq + 1
	case state == live && replay:
		d.problem("connection %d: a replayed frame (seq %d) after sync_done", n, seq)
	}
	// Live frames before the sync is answered may repeat what the replay brings; the protocol
	// lets a client see those twice and key them by seq.
	d.mu.Lock()
	if prev := d.received[seq]; prev != "" && prev != id {
		d.problems = append(d.problems, fmt.Sprintf("seq %d is message %s and %s", seq, prev, id))
	}
	d.received[seq] = id
	d.mu.Unlock()
	return next
}

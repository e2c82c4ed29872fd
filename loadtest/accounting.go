package main

// Delivery accounting: every message sent is registered before its SendMessage starts (its frame
// may arrive before the response does), and every frame read from a WebSocket is checked against
// the per-socket, per-chat stream of seqs: duplicates, order and gaps are judged from what each
// socket saw, loss and latency from the messages this load generator sent.

import (
	"maps"
	"sync"
	"time"
)

// wsFrame is what the accounting reads of a gateway frame (docs/realtime.md); the rest is ignored.
type wsFrame struct {
	Type    string `json:"type"`
	ChatID  string `json:"chat_id"`
	Seq     int64  `json:"seq"`
	Replay  bool   `json:"replay"`
	Message *struct {
		MessageID   string `json:"message_id"`
		ClientMsgID string `json:"client_msg_id"`
	} `json:"message"`
}

// sendRecord is one message this load generator tried to send.
type sendRecord struct {
	phase     *phaseAcct
	chatID    string
	sender    int       // the sender's socket
	recipient int       // the recipient's socket
	start     time.Time // send start; in open loop the scheduled time

	done        bool
	ok          bool
	seq         int64
	recipientAt time.Time // first frame on the recipient's socket
	senderAt    time.Time // first frame on the sender's own socket
}

type streamKey struct {
	sock int
	chat string
}

// stream is what one socket has seen of one chat.
type stream struct {
	max  int64
	seen map[int64]struct{}
}

// phaseAcct accumulates one phase. Frames are counted into the phase current when they arrive
// (its drain included); deliveries into the phase the message was sent in.
type phaseAcct struct {
	name      string
	started   time.Time
	windowEnd time.Time // when sends stopped; zero while they run

	records     []*sendRecord
	base        map[streamKey]int64 // each stream's last seq when the phase started
	chatMaxSent map[string]int64    // highest seq a send of this phase got, per chat

	sent, deliveredLive   int64
	errors                map[string]int64
	notDispatched         int64
	duplicates, orderViol int64
	replays, unmatched    int64
	frames                map[string]int64
	sendLat, e2eLatLive   []time.Duration
	lastFrameAt           time.Time
	lastByType            map[string]time.Time
	inflight              int64
	outstanding           int64 // records for which pending() holds, kept as they change
}

// tracker is shared by the senders and the socket readers.
type tracker struct {
	mu           sync.Mutex
	byClientID   map[string]*sendRecord
	streams      map[streamKey]*stream
	chatMax      map[string]int64 // highest seq any successful send returned, per chat
	cur          *phaseAcct
	strayFrames  map[string]int64 // frames that arrived between phases
	socketClosed map[int]string   // sockets the gateway closed, with why
}

func newTracker() *tracker {
	return &tracker{
		byClientID:   map[string]*sendRecord{},
		streams:      map[streamKey]*stream{},
		chatMax:      map[string]int64{},
		strayFrames:  map[string]int64{},
		socketClosed: map[int]string{},
	}
}

// watch registers a socket as a participant of a chat, so its stream is checked even when it
// receives nothing.
func (t *tracker) watch(sock int, chat string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := streamKey{sock, chat}
	if t.streams[k] == nil {
		t.streams[k] = &stream{seen: map[int64]struct{}{}}
	}
}

// startPhase makes a new phase current. Each stream's base is the higher of what its socket has
// seen and what sends have been told, so a message lost in an earlier phase is not counted again.
func (t *tracker) startPhase(name string) *phaseAcct {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := &phaseAcct{
		name:        name,
		started:     time.Now(),
		base:        map[streamKey]int64{},
		chatMaxSent: map[string]int64{},
		errors:      map[string]int64{},
		frames:      map[string]int64{},
		lastByType:  map[string]time.Time{},
	}
	for k, s := range t.streams {
		p.base[k] = max(s.max, t.chatMax[k.chat])
	}
	t.cur = p
	return p
}

// begin registers a message about to be sent.
func (t *tracker) begin(p *phaseAcct, clientMsgID, chat string, sender, recipient int, start time.Time) *sendRecord {
	r := &sendRecord{phase: p, chatID: chat, sender: sender, recipient: recipient, start: start}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byClientID[clientMsgID] = r
	p.records = append(p.records, r)
	p.inflight++
	p.outstanding++
	return r
}

// pending: the send has not answered, or it was stored and has not reached both sockets yet.
func (r *sendRecord) pending() bool {
	return !r.done || (r.ok && (r.recipientAt.IsZero() || r.senderAt.IsZero()))
}

// setChat sets the chat of a message sent by user id, known only from the response.
func (t *tracker) setChat(r *sendRecord, chat string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r.chatID = chat
}

// notDispatched counts an open-loop send that could not start (the pool was full).
func (t *tracker) notDispatched(p *phaseAcct) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p.notDispatched++
}

// finish records SendMessage's outcome: the message's seq, or the error's code.
func (t *tracker) finish(r *sendRecord, seq int64, errCode string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := r.phase
	r.done = true
	p.inflight--
	defer func() {
		if !r.pending() {
			p.outstanding--
		}
	}()
	if errCode != "" {
		p.errors[errCode]++
		return
	}
	r.ok, r.seq = true, seq
	p.sent++
	p.sendLat = append(p.sendLat, at.Sub(r.start))
	p.chatMaxSent[r.chatID] = max(p.chatMaxSent[r.chatID], seq)
	t.chatMax[r.chatID] = max(t.chatMax[r.chatID], seq)
}

// closed notes that the gateway closed a socket.
func (t *tracker) closed(sock int, why string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.socketClosed[sock] = why
}

// closedSockets lists the sockets the gateway closed so far.
func (t *tracker) closedSockets() map[int]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.socketClosed)
}

// frame accounts one frame read from socket sock at time at.
func (t *tracker) frame(sock int, f *wsFrame, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.cur
	if p == nil {
		t.strayFrames[f.Type]++
	} else {
		p.frames[f.Type]++
		p.lastFrameAt = at
		p.lastByType[f.Type] = at
	}
	if f.Type != "message" || f.Message == nil {
		return
	}
	k := streamKey{sock, f.ChatID}
	s := t.streams[k]
	if s == nil {
		s = &stream{seen: map[int64]struct{}{}}
		t.streams[k] = s
	}
	if _, dup := s.seen[f.Seq]; dup {
		if p != nil {
			p.duplicates++
		}
		return
	}
	if p != nil {
		if f.Replay {
			p.replays++
		}
		if f.Seq < s.max {
			p.orderViol++
		}
	}
	s.seen[f.Seq] = struct{}{}
	s.max = max(s.max, f.Seq)

	r := t.byClientID[f.Message.ClientMsgID]
	if r == nil {
		if p != nil {
			p.unmatched++
		}
		return
	}
	was := r.pending()
	defer func() {
		if was && !r.pending() {
			r.phase.outstanding--
		}
	}()
	switch sock {
	case r.recipient:
		if r.recipientAt.IsZero() {
			r.recipientAt = at
			r.phase.deliveredLive++
			r.phase.e2eLatLive = append(r.phase.e2eLatLive, at.Sub(r.start))
		}
	case r.sender:
		if r.senderAt.IsZero() {
			r.senderAt = at
		}
	}
}

// endWindow marks the moment the phase stopped sending.
func (t *tracker) endWindow(p *phaseAcct, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p.windowEnd = at
}

// progress is a running view of a phase, for the progress line.
type progress struct {
	Sent, Delivered, Inflight int64
	Errors                    int64
	SendP99, E2EP99           time.Duration
	LastFrameAt               time.Time
	// Outstanding counts messages sent OK that have not reached both sockets yet, plus sends
	// still in flight.
	Outstanding int64
}

func (t *tracker) progress(p *phaseAcct, withPercentiles bool) progress {
	t.mu.Lock()
	pr := progress{Sent: p.sent, Delivered: p.deliveredLive, Inflight: p.inflight, LastFrameAt: p.lastFrameAt, Outstanding: p.outstanding}
	for _, n := range p.errors {
		pr.Errors += n
	}
	var sl, el []time.Duration
	if withPercentiles {
		sl, el = append(sl, p.sendLat...), append(el, p.e2eLatLive...)
	}
	t.mu.Unlock()
	if withPercentiles {
		pr.SendP99 = time.Duration(summarize(sl).P99Ms * float64(time.Millisecond))
		pr.E2EP99 = time.Duration(summarize(el).P99Ms * float64(time.Millisecond))
	}
	return pr
}

// Delivery is a message phase's accounting.
type Delivery struct {
	Attempted     int64            `json:"attempted"`
	Sent          int64            `json:"sent"` // SendMessage answered OK
	SendErrors    map[string]int64 `json:"send_errors"`
	NotDispatched int64            `json:"not_dispatched"` // open loop: the send pool was full
	// Delivered: messages sent OK whose frame reached the recipient's socket (first copy), by the
	// end of the drain; DeliveredInWindow: of those, the ones that arrived while sends ran.
	Delivered         int64 `json:"delivered"`
	DeliveredInWindow int64 `json:"delivered_in_window"`
	// DeliveredAfterError: the send failed from the client's view but the message was stored.
	DeliveredAfterError int64 `json:"delivered_after_send_error"`
	Lost                int64 `json:"lost"` // sent OK, no recipient frame after the drain
	SenderEchoMissing   int64 `json:"sender_echo_missing"`
	Duplicated          int64 `json:"duplicated"`       // a second frame of a seq on one socket
	OrderViolations     int64 `json:"order_violations"` // a new seq lower than one already seen
	// Gaps: seqs of a chat missing on a participant's socket, from where the phase started up to
	// the chat's highest seq (seen or returned by a send).
	Gaps              int64              `json:"gaps"`
	Replays           int64              `json:"replays"`          // frames with replay=true (never expected)
	UnmatchedMessages int64              `json:"unmatched_frames"` // message frames of messages not sent by this run
	FramesByType      map[string]int64   `json:"frames_by_type"`
	FramesPerMessage  map[string]float64 `json:"frames_per_message"`
	// LastFrameAfterWindow: per frame type, how long after sends stopped its last frame came
	// (e.g. notifications trailing the messages); negative when it came before.
	LastFrameAfterWindow map[string]float64 `json:"last_frame_after_window_seconds"`
	SendLatency          Latency            `json:"send_latency"`
	EndToEndLatency      Latency            `json:"e2e_latency"`
}

// finishPhase ends the phase (it is no longer current) and accounts it.
func (t *tracker) finishPhase(p *phaseAcct) Delivery {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur == p {
		t.cur = nil
	}
	d := Delivery{
		Attempted:            int64(len(p.records)),
		Sent:                 p.sent,
		SendErrors:           maps.Clone(p.errors),
		NotDispatched:        p.notDispatched,
		Duplicated:           p.duplicates,
		OrderViolations:      p.orderViol,
		Replays:              p.replays,
		UnmatchedMessages:    p.unmatched,
		FramesByType:         maps.Clone(p.frames),
		FramesPerMessage:     map[string]float64{},
		LastFrameAfterWindow: map[string]float64{},
		SendLatency:          summarize(p.sendLat),
	}
	var e2e []time.Duration
	for _, r := range p.records {
		delivered := !r.recipientAt.IsZero()
		switch {
		case r.ok && delivered:
			d.Delivered++
			e2e = append(e2e, r.recipientAt.Sub(r.start))
			if p.windowEnd.IsZero() || !r.recipientAt.After(p.windowEnd) {
				d.DeliveredInWindow++
			}
		case r.ok:
			d.Lost++
		case delivered:
			d.DeliveredAfterError++
		}
		if r.ok && r.senderAt.IsZero() {
			d.SenderEchoMissing++
		}
	}
	d.EndToEndLatency = summarize(e2e)
	for k, base := range p.base {
		s := t.streams[k]
		upper := max(s.max, p.chatMaxSent[k.chat])
		for seq := base + 1; seq <= upper; seq++ {
			if _, ok := s.seen[seq]; !ok {
				d.Gaps++
			}
		}
	}
	if !p.windowEnd.IsZero() {
		for typ, at := range p.lastByType {
			d.LastFrameAfterWindow[typ] = at.Sub(p.windowEnd).Seconds()
		}
	}
	if d.Sent > 0 {
		for typ, n := range d.FramesByType {
			d.FramesPerMessage[typ] = float64(n) / float64(d.Sent)
		}
	}
	return d
}

package main

// The message phases. Both users of every pair send to each other through the gateway's
// SendMessage; both users' WebSockets receive every message of their chat.
//
// Closed loop: each sender sends its next message as soon as the previous one is answered — the
// maximum rate the system sustains with that many concurrent senders.
// Open loop: messages are due at fixed intervals whatever the system does, each sent on its own
// goroutine; latency counts from when a message was due, so a system that falls behind shows it
// in the latency instead of quietly receiving fewer messages ("coordinated omission").

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
)

const (
	modeClosed = "closed-loop"
	modeOpen   = "open-loop"
	// openLoopPool bounds the open loop's concurrent sends; a message due while all are busy is
	// counted as not dispatched.
	openLoopPool = 1024
	// sendTimeout bounds one SendMessage; it is not cancelled when a phase ends, so a message in
	// flight is always accounted.
	sendTimeout = 30 * time.Second
)

// Tick is one progress sample of a message phase.
type Tick struct {
	Seconds   float64 `json:"seconds"`
	Sent      int64   `json:"sent"`
	Delivered int64   `json:"delivered"`
	Lag       int64   `json:"lag"` // sent − delivered
}

// MessagePhase is one message phase's result.
type MessagePhase struct {
	Skipped         string  `json:"skipped,omitempty"`
	Mode            string  `json:"mode"`
	Pairs           int     `json:"pairs"`
	Senders         int     `json:"senders"`
	TargetRate      float64 `json:"target_rate,omitempty"` // open loop: messages due per second
	DurationSeconds float64 `json:"duration_seconds"`      // the send window
	DrainSeconds    float64 `json:"drain_seconds"`
	DrainComplete   bool    `json:"drain_complete"` // every message reached both sockets
	// StackAtRest: the drain also saw the stack's CPU fall back to its rate at rest, so the
	// CPU figures hold all the work the phase's messages caused.
	StackAtRest   bool     `json:"stack_at_rest"`
	Interrupted   bool     `json:"interrupted,omitempty"`
	Delivery      Delivery `json:"delivery"`
	SentPerSecond float64  `json:"sent_per_second"`
	// DeliveredPerSecond counts recipient frames that arrived within the send window.
	DeliveredPerSecond float64 `json:"delivered_per_second"`
	// DeliveredRatio is delivered / sent after the drain; DeliveredInWindowRatio before it.
	DeliveredRatio         float64           `json:"delivered_ratio"`
	DeliveredInWindowRatio float64           `json:"delivered_in_window_ratio"`
	LagAtEnd               int64             `json:"lag_at_end"` // sent − delivered when sends stopped
	Ticks                  []Tick            `json:"ticks"`
	SocketsClosed          map[string]string `json:"sockets_closed,omitempty"`
	CPU                    *PhaseCPU         `json:"cpu,omitempty"`
	Profiles               *Profiles         `json:"profiles,omitempty"`
}

// sender is one direction of a pair.
type sender struct {
	from, to int
	chatID   string
}

func (r *runner) senders() []sender {
	var ss []sender
	for _, p := range r.pairs {
		ss = append(ss, sender{p.a, p.b, p.chatID}, sender{p.b, p.a, p.chatID})
	}
	return ss
}

// messageText is about 40 characters, a short chat message.
func messageText(n int64) string {
	return fmt.Sprintf("load test message %012d, hello!!", n)
}

// sendOne sends one message that was due at start and accounts it.
func (r *runner) sendOne(ctx context.Context, p *phaseAcct, s sender, n int64, start time.Time) {
	id := uuid.NewString()
	rec := r.tr.begin(p, id, s.chatID, s.from, s.to, start)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendTimeout)
	defer cancel()
	res, err := r.api.chat.SendMessage(cctx, withToken(&chatv1.SendMessageRequest{
		To:          &chatv1.SendMessageRequest_ChatId{ChatId: s.chatID},
		ClientMsgId: id,
		Text:        messageText(n),
	}, r.msgUsers[s.from].token))
	at := time.Now()
	if err != nil {
		r.tr.finish(rec, 0, errCode(err), at)
		return
	}
	r.tr.finish(rec, res.Msg.GetMessage().GetSeq(), "", at)
}

// runMessages runs one message phase: mode closed-loop, or open-loop at rate per second.
func (r *runner) runMessages(ctx context.Context, mode string, rate float64) MessagePhase {
	ss := r.senders()
	res := MessagePhase{Mode: mode, Pairs: len(r.pairs), Senders: len(ss)}
	if len(ss) == 0 {
		res.Skipped = "no pairs"
		return res
	}
	if mode == modeOpen {
		res.TargetRate = rate
	}
	dur := r.cfg.Duration
	p := r.tr.startPhase(mode)
	var prof *profileJob
	if mode == modeClosed && r.cfg.Profile {
		prof = r.startProfiles(ctx, dur)
	}
	before := r.cpu.snapshot()
	start := time.Now()
	deadline := start.Add(dur)

	var ticksMu sync.Mutex
	stop := every(start, func(el time.Duration) {
		pr := r.tr.progress(p, true)
		ticksMu.Lock()
		res.Ticks = append(res.Ticks, Tick{Seconds: el.Seconds(), Sent: pr.Sent, Delivered: pr.Delivered, Lag: pr.Sent - pr.Delivered})
		ticksMu.Unlock()
		errs := ""
		if pr.Errors > 0 {
			errs = fmt.Sprintf("  errors %s", thousands(pr.Errors))
		}
		r.prog.show("%s %s/%s  sent %s (%s/s)  delivered %s  lag %s%s  send p99 %s  e2e p99 %s",
			mode, secs(min(el, dur)), secs(dur), thousands(pr.Sent), thousands(int64(float64(pr.Sent)/el.Seconds())),
			thousands(pr.Delivered), thousands(pr.Sent-pr.Delivered), errs, ms(pr.SendP99), ms(pr.E2EP99))
	})

	var n int64
	var nMu sync.Mutex
	next := func() int64 {
		nMu.Lock()
		defer nMu.Unlock()
		n++
		return n
	}
	var wg sync.WaitGroup
	if mode == modeClosed {
		for _, s := range ss {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil && time.Now().Before(deadline) {
					r.sendOne(ctx, p, s, next(), time.Now())
				}
			}()
		}
	} else {
		r.dispatchOpenLoop(ctx, p, ss, rate, start, deadline, &wg, next)
	}
	wg.Wait()
	windowEnd := time.Now()
	r.tr.endWindow(p, windowEnd)
	stop()
	r.prog.end()
	pr := r.tr.progress(p, false)
	res.LagAtEnd = pr.Sent - pr.Delivered
	res.DurationSeconds = windowEnd.Sub(start).Seconds()
	res.Interrupted = ctx.Err() != nil

	// Drain: wait for every message to reach both sockets, for the frames that follow to stop,
	// and for the stack to come back to rest — work a message causes after its frame
	// (notifications, outbox relays, consumers' inboxes) belongs to this phase's CPU too.
	drainStart := time.Now()
	quiet := newQuietWatch(r.cpu, r.restCores)
	stopDrain := every(drainStart, func(el time.Duration) {
		pr := r.tr.progress(p, false)
		r.prog.show("%s drain %s/%s  outstanding %s  stack CPU %.2f cores", mode, secs(el), secs(r.cfg.Drain), thousands(pr.Outstanding), quiet.lastCores())
	})
	for ctx.Err() == nil && time.Since(drainStart) < r.cfg.Drain {
		pr := r.tr.progress(p, false)
		quiet.sample()
		if pr.Outstanding == 0 {
			res.DrainComplete = true
			if time.Since(pr.LastFrameAt) > 300*time.Millisecond && quiet.atRest() {
				res.StackAtRest = true
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopDrain()
	r.prog.end()
	res.DrainSeconds = time.Since(drainStart).Seconds()
	after := r.cpu.snapshot()

	res.Delivery = r.tr.finishPhase(p)
	d := res.Delivery
	res.SentPerSecond = float64(d.Sent) / res.DurationSeconds
	res.DeliveredPerSecond = float64(d.DeliveredInWindow) / res.DurationSeconds
	if d.Sent > 0 {
		res.DeliveredRatio = float64(d.Delivered) / float64(d.Sent)
		res.DeliveredInWindowRatio = float64(d.DeliveredInWindow) / float64(d.Sent)
	}
	cpu := r.cpu.diff(before, after, "message", d.Sent)
	res.CPU = &cpu
	for sock, why := range r.tr.closedSockets() {
		if res.SocketsClosed == nil {
			res.SocketsClosed = map[string]string{}
		}
		res.SocketsClosed[r.msgUsers[sock].email] = why
	}
	if prof != nil {
		res.Profiles = prof.finish(ctx, d.Sent)
	}
	return res
}

// dispatchOpenLoop starts a send every 1/rate seconds from start until deadline, round robin over
// the senders, each on its own goroutine.
func (r *runner) dispatchOpenLoop(ctx context.Context, p *phaseAcct, ss []sender, rate float64, start, deadline time.Time, wg *sync.WaitGroup, next func() int64) {
	interval := time.Duration(float64(time.Second) / rate)
	pool := make(chan struct{}, openLoopPool)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for k := int64(0); ; k++ {
		due := start.Add(time.Duration(k) * interval)
		if !due.Before(deadline) {
			return
		}
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		select {
		case pool <- struct{}{}:
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-pool }()
				r.sendOne(ctx, p, ss[k%int64(len(ss))], next(), due)
			}()
		default:
			r.tr.notDispatched(p)
		}
	}
}

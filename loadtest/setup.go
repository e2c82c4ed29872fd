package main

// Setup through the public API, as people would do it: sign up, become friends, open the app
// (a WebSocket each), say hello. The hello also proves the whole delivery path works and warms
// it up (the gateway's Kafka consumer group joins on its first events) before anything is timed.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
)

// pair is two friends and their chat; a and b index runner.msgUsers and are also their sockets.
type pair struct {
	a, b   int
	chatID string
}

// Setup reports what setting up took.
type Setup struct {
	RunID              string   `json:"run_id"`
	Users              int      `json:"users"`
	RegisterSeconds    float64  `json:"register_seconds"`
	RegistersPerSecond float64  `json:"registers_per_second"`
	Friendships        int      `json:"friendships"`
	Sockets            int      `json:"sockets"`
	FirstMessages      Delivery `json:"first_messages"`
	Notes              []string `json:"notes,omitempty"`
}

func (r *runner) needsMessageUsers() bool {
	return r.cfg.has(phaseGateway) || r.cfg.has(phaseClosed) || r.cfg.has(phaseOpen)
}

func (r *runner) needsPairs() bool { return r.cfg.has(phaseClosed) || r.cfg.has(phaseOpen) }

// idleUserCount is how many accounts the idle sockets need at conns-per-user each.
func (r *runner) idleUserCount() int {
	if !r.cfg.has(phaseIdle) || r.cfg.IdleConns == 0 {
		return 0
	}
	return (r.cfg.IdleConns + r.cfg.ConnsPerUser - 1) / r.cfg.ConnsPerUser
}

func (r *runner) setup(ctx context.Context) (Setup, error) {
	s := Setup{RunID: r.runID}
	nMsg := 0
	if r.needsMessageUsers() {
		nMsg = 2 * r.cfg.Pairs
	}
	total := nMsg + r.idleUserCount()
	if total > 0 {
		start := time.Now()
		users, err := r.api.registerUsers(ctx, r.runID, 0, total, r.cfg.RegisterConc, func(done int) {
			el := time.Since(start)
			r.prog.show("registering users %d/%d (%.1f/s)", done, total, float64(done)/el.Seconds())
		})
		r.prog.end()
		if err != nil {
			return s, err
		}
		s.Users = total
		s.RegisterSeconds = time.Since(start).Seconds()
		s.RegistersPerSecond = float64(total) / s.RegisterSeconds
		r.msgUsers, r.idleUsers = users[:nMsg], users[nMsg:]
	}
	if !r.needsPairs() {
		return s, nil
	}

	for i := range r.cfg.Pairs {
		r.pairs = append(r.pairs, &pair{a: 2 * i, b: 2*i + 1})
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	var mu sync.Mutex
	done := 0
	for _, p := range r.pairs {
		g.Go(func() error {
			if err := r.api.befriend(gctx, r.msgUsers[p.a], r.msgUsers[p.b]); err != nil {
				return fmt.Errorf("make friends: %w", err)
			}
			mu.Lock()
			done++
			r.prog.show("making friends %d/%d", done, len(r.pairs))
			mu.Unlock()
			return nil
		})
	}
	err := g.Wait()
	r.prog.end()
	if err != nil {
		return s, err
	}
	s.Friendships = len(r.pairs)

	// One socket per message user, open before the chat's first message so every socket sees
	// every seq of its chats from 1.
	r.socks = make([]*websocket.Conn, len(r.msgUsers))
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, u := range r.msgUsers {
		g.Go(func() error {
			conn, err := dialWS(gctx, r.wsHC, wsURL(r.tgt.GatewayURL), u.token, true)
			if err != nil {
				return fmt.Errorf("open the WebSocket of %s: %w", u.email, err)
			}
			r.socks[i] = conn
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return s, err
	}
	for i, c := range r.socks {
		go readFrames(c, i, r.tr)
	}
	s.Sockets = len(r.socks)

	// The first message of each pair, by user id.
	ph := r.tr.startPhase("setup")
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, p := range r.pairs {
		g.Go(func() error {
			id := uuid.NewString()
			rec := r.tr.begin(ph, id, "", p.a, p.b, time.Now())
			msg, err := r.api.firstMessage(gctx, r.msgUsers[p.a], r.msgUsers[p.b], id)
			if err != nil {
				r.tr.finish(rec, 0, errCode(err), time.Now())
				return err
			}
			p.chatID = msg.GetChatId()
			r.tr.setChat(rec, p.chatID)
			r.tr.watch(p.a, p.chatID)
			r.tr.watch(p.b, p.chatID)
			r.tr.finish(rec, msg.GetSeq(), "", time.Now())
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		r.tr.finishPhase(ph)
		return s, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if r.tr.progress(ph, false).Outstanding == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.FirstMessages = r.tr.finishPhase(ph)
	if s.FirstMessages.Lost > 0 || s.FirstMessages.SenderEchoMissing > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("of the %d first messages, %d did not reach the recipient's WebSocket and %d not the sender's within 30s: realtime delivery is not working, expect losses",
			s.FirstMessages.Sent, s.FirstMessages.Lost, s.FirstMessages.SenderEchoMissing))
	}
	return s, nil
}

// closeSockets closes the message users' sockets.
func (r *runner) closeSockets() {
	for _, c := range r.socks {
		if c != nil {
			_ = c.CloseNow()
		}
	}
}

package main

import (
	"math"
	"testing"
	"time"
)

// A chat between socket 0 (alice) and socket 1 (bob); alice sends.
const testChat = "0b7c6a0e-2f4c-4f0e-9f59-3f3c1c1e5a10"

type scenario struct {
	t   *testing.T
	tr  *tracker
	p   *phaseAcct
	t0  time.Time
	ids map[int64]string // seq -> client_msg_id
}

func newScenario(t *testing.T) *scenario {
	tr := newTracker()
	tr.watch(0, testChat)
	tr.watch(1, testChat)
	return &scenario{t: t, tr: tr, p: tr.startPhase(modeClosed), t0: time.Now(), ids: map[int64]string{}}
}

// send registers alice's message that gets seq and answers OK 5 ms after it started.
func (s *scenario) send(seq int64) {
	id := "cm-" + time.Duration(seq).String()
	s.ids[seq] = id
	r := s.tr.begin(s.p, id, testChat, 0, 1, s.t0)
	s.tr.finish(r, seq, "", s.t0.Add(5*time.Millisecond))
}

// frame delivers the message frame of seq to sock, at ms after the start.
func (s *scenario) frame(sock int, seq int64, ms int) {
	f := &wsFrame{Type: "message", ChatID: testChat, Seq: seq}
	f.Message = &struct {
		MessageID   string `json:"message_id"`
		ClientMsgID string `json:"client_msg_id"`
	}{MessageID: "m", ClientMsgID: s.ids[seq]}
	s.tr.frame(sock, f, s.t0.Add(time.Duration(ms)*time.Millisecond))
}

// both delivers seqs in order to both sockets.
func (s *scenario) both(seqs ...int64) {
	for _, q := range seqs {
		s.frame(1, q, 10)
		s.frame(0, q, 10)
	}
}

// outstanding recounts what progress keeps incrementally, and checks they agree.
func (s *scenario) outstanding() int64 {
	s.t.Helper()
	var n int64
	for _, r := range s.p.records {
		if r.pending() {
			n++
		}
	}
	if got := s.tr.progress(s.p, false).Outstanding; got != n {
		s.t.Fatalf("outstanding = %d, recount %d", got, n)
	}
	return n
}

func (s *scenario) finish() Delivery {
	s.outstanding()
	s.tr.endWindow(s.p, s.t0.Add(time.Second))
	return s.tr.finishPhase(s.p)
}

// check compares the counters that must be exact.
func check(t *testing.T, d Delivery, sent, delivered, lost, dup, order, gaps, echoMissing int64) {
	t.Helper()
	got := [7]int64{d.Sent, d.Delivered, d.Lost, d.Duplicated, d.OrderViolations, d.Gaps, d.SenderEchoMissing}
	want := [7]int64{sent, delivered, lost, dup, order, gaps, echoMissing}
	if got != want {
		t.Fatalf("sent, delivered, lost, duplicated, order, gaps, echo missing = %v, want %v", got, want)
	}
}

func TestAccountingCleanRun(t *testing.T) {
	s := newScenario(t)
	for q := int64(1); q <= 3; q++ {
		s.send(q)
	}
	if n := s.outstanding(); n != 3 {
		t.Fatalf("outstanding before any frame = %d, want 3", n)
	}
	s.frame(1, 1, 10)
	if n := s.outstanding(); n != 3 {
		t.Fatalf("outstanding with only the recipient's frame = %d, want 3", n)
	}
	s.frame(0, 1, 10)
	s.frame(1, 1, 11) // a duplicate changes nothing
	if n := s.outstanding(); n != 2 {
		t.Fatalf("outstanding = %d, want 2", n)
	}
	s.both(2, 3)
	if n := s.outstanding(); n != 0 {
		t.Fatalf("outstanding after every frame = %d, want 0", n)
	}
	s.tr.frame(1, &wsFrame{Type: "notification"}, s.t0)
	d := s.finish()
	check(t, d, 3, 3, 0, 1, 0, 0, 0) // the one duplicate made on purpose
	if d.EndToEndLatency.Count != 3 || d.EndToEndLatency.P50Ms != 10 || d.SendLatency.P99Ms != 5 {
		t.Errorf("latencies: e2e %+v, send %+v", d.EndToEndLatency, d.SendLatency)
	}
	if d.FramesByType["message"] != 7 || d.FramesByType["notification"] != 1 {
		t.Errorf("frames %v, per message %v", d.FramesByType, d.FramesPerMessage)
	}
}

func TestAccountingLostMessage(t *testing.T) {
	s := newScenario(t)
	for q := int64(1); q <= 3; q++ {
		s.send(q)
	}
	s.both(1, 2)
	s.frame(0, 3, 10) // the sender's echo arrives, the recipient's frame never does
	d := s.finish()
	// Seq 3 is lost, and missing from bob's stream: one gap there.
	check(t, d, 3, 2, 1, 0, 0, 1, 0)
}

func TestAccountingDuplicate(t *testing.T) {
	s := newScenario(t)
	s.send(1)
	s.send(2)
	s.both(1, 2)
	s.frame(1, 2, 20) // bob gets seq 2 again
	d := s.finish()
	check(t, d, 2, 2, 0, 1, 0, 0, 0)
}

func TestAccountingOutOfOrder(t *testing.T) {
	s := newScenario(t)
	for q := int64(1); q <= 3; q++ {
		s.send(q)
	}
	s.frame(1, 1, 10)
	s.frame(1, 3, 11)
	s.frame(1, 2, 12) // lower than 3, already seen: one order violation, no gap in the end
	s.frame(0, 1, 10)
	s.frame(0, 2, 10)
	s.frame(0, 3, 10)
	d := s.finish()
	check(t, d, 3, 3, 0, 0, 1, 0, 0)
}

func TestAccountingGapOnSenderSocket(t *testing.T) {
	s := newScenario(t)
	for q := int64(1); q <= 3; q++ {
		s.send(q)
	}
	s.frame(1, 1, 10)
	s.frame(1, 2, 10)
	s.frame(1, 3, 10)
	s.frame(0, 1, 10)
	s.frame(0, 3, 10) // alice's own device never sees seq 2
	d := s.finish()
	check(t, d, 3, 3, 0, 0, 0, 1, 1)
}

func TestAccountingNextPhaseStartsAfterTheLastSeq(t *testing.T) {
	s := newScenario(t)
	s.send(1)
	s.send(2)
	s.frame(0, 1, 10)
	s.frame(1, 1, 10) // seq 2 lost on both sockets in phase one
	d := s.finish()
	check(t, d, 2, 1, 1, 0, 0, 2, 1)

	// Phase two does not count phase one's hole again.
	s.p = s.tr.startPhase(modeOpen)
	s.send(3)
	s.both(3)
	d = s.finish()
	check(t, d, 1, 1, 0, 0, 0, 0, 0)
}

func TestAccountingSendErrors(t *testing.T) {
	s := newScenario(t)
	s.send(1)
	s.both(1)
	// A send that timed out on the client but was stored (its frame arrives) and one refused.
	s.ids[2] = "timed-out"
	r := s.tr.begin(s.p, "timed-out", testChat, 0, 1, s.t0)
	s.tr.finish(r, 0, "deadline_exceeded", s.t0.Add(time.Second))
	s.both(2)
	r = s.tr.begin(s.p, "refused", testChat, 0, 1, s.t0)
	s.tr.finish(r, 0, "failed_precondition", s.t0)
	d := s.finish()
	check(t, d, 1, 1, 0, 0, 0, 0, 0)
	if d.DeliveredAfterError != 1 || d.SendErrors["deadline_exceeded"] != 1 || d.SendErrors["failed_precondition"] != 1 || d.Attempted != 3 {
		t.Fatalf("errors %v, delivered after error %d, attempted %d", d.SendErrors, d.DeliveredAfterError, d.Attempted)
	}
}

func TestAccountingInWindow(t *testing.T) {
	s := newScenario(t)
	s.send(1)
	s.send(2)
	s.both(1)
	s.tr.endWindow(s.p, s.t0.Add(50*time.Millisecond))
	s.frame(1, 2, 80) // arrives during the drain
	s.frame(0, 2, 80)
	d := s.tr.finishPhase(s.p)
	if d.Delivered != 2 || d.DeliveredInWindow != 1 {
		t.Fatalf("delivered %d, in window %d", d.Delivered, d.DeliveredInWindow)
	}
	if got := d.LastFrameAfterWindow["message"]; math.Abs(got-0.030) > 1e-9 {
		t.Fatalf("last message frame %v s after the window, want 0.030", got)
	}
}

package chatdb_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/waittest"
	"github.com/parleyhq/parley/services/chat/internal/chat"
	"github.com/parleyhq/parley/services/chat/internal/chatdb"
)

// sendResult is what one Send returned.
type sendResult struct {
	msg chat.Message
	dup bool
	err error
}

// queueSends starts each send once the previous one is queued behind HoldSends, so the queue
// holds them in this order, and returns where their results arrive.
func queueSends(t *testing.T, s *chatdb.Store, ctx context.Context, sends ...chat.NewMessage) []chan sendResult {
	t.Helper()
	out := make([]chan sendResult, len(sends))
	for i, m := range sends {
		out[i] = make(chan sendResult, 1)
		go func() {
			msg, dup, err := s.Send(ctx, m)
			out[i] <- sendResult{msg, dup, err}
		}()
		waittest.Until(t, fmt.Sprintf("send %d to queue", i), func() bool { return chatdb.QueuedSends(s) >= i+1 })
	}
	return out
}

func results(t *testing.T, chans []chan sendResult) []sendResult {
	t.Helper()
	out := make([]sendResult, len(chans))
	for i, c := range chans {
		select {
		case out[i] = <-c:
		case <-time.After(30 * time.Second):
			t.Fatalf("send %d never returned", i)
		}
	}
	return out
}

// Sends that queue while a group is written are written together, one transaction for all, and
// each still gets its own answer: seqs in queue order within a chat, a duplicate client_msg_id
// held back for the next group (where it finds the first), refusals for the sends they concern.
func TestQueuedSendsAreWrittenAsOneGroup(t *testing.T) {
	s, pool := newStore(t)
	a, b, c, e := newID(), newID(), newID(), newID()
	befriend(t, s, pool, a, b, true)
	befriend(t, s, pool, a, c, true)
	befriend(t, s, pool, a, e, false)
	ab, ac, ae := chat.ChatID(a, b), chat.ChatID(a, c), chat.ChatID(a, e)

	first := newMessage(ab, a, "one")
	again := newMessage(ab, a, "one, again")
	again.ClientMsgID = first.ClientMsgID
	sends := []chat.NewMessage{
		first,
		newMessage(ab, b, "two"),
		newMessage(ac, a, "elsewhere"),
		again,
		newMessage(ae, a, "not friends"),
		newMessage(newID(), a, "no such chat"),
		newMessage(ab, b, "three"),
	}
	chatdb.HoldSends(s)
	chans := queueSends(t, s, context.Background(), sends...)
	chatdb.ReleaseSends(s)
	r := results(t, chans)

	for _, i := range []int{0, 1, 2, 6} {
		if r[i].err != nil || r[i].dup {
			t.Fatalf("send %d (%q): dup %v, %v", i, sends[i].Text, r[i].dup, r[i].err)
		}
	}
	if r[0].msg.Seq != 1 || r[1].msg.Seq != 2 || r[6].msg.Seq != 3 || r[2].msg.Seq != 1 {
		t.Fatalf("seqs %d %d %d in one chat, %d in the other; want 1 2 3 and 1", r[0].msg.Seq, r[1].msg.Seq, r[6].msg.Seq, r[2].msg.Seq)
	}
	// One statement handed out the chat's seqs and its time: the mark of one group.
	if !r[0].msg.SentAt.Equal(r[1].msg.SentAt) || !r[1].msg.SentAt.Equal(r[6].msg.SentAt) {
		t.Fatalf("sent_at %v %v %v: not written together", r[0].msg.SentAt, r[1].msg.SentAt, r[6].msg.SentAt)
	}
	if !r[3].dup || r[3].err != nil || r[3].msg.ID != first.ID || r[3].msg.Text != "one" || r[3].msg.Seq != 1 {
		t.Fatalf("repeated client_msg_id: %+v dup %v %v; want the first message as a duplicate", r[3].msg, r[3].dup, r[3].err)
	}
	if !errors.Is(r[4].err, chat.ErrNotFriends) {
		t.Fatalf("send to a former friend: %v; want ErrNotFriends", r[4].err)
	}
	if !errors.Is(r[5].err, chat.ErrChatNotFound) {
		t.Fatalf("send to no chat: %v; want ErrChatNotFound", r[5].err)
	}

	events := outboxEvents(t, pool, func() *eventsv1.MessageSent { return &eventsv1.MessageSent{} })
	var seqs []int64
	for _, ev := range events {
		if ev.GetChatId() == ab {
			seqs = append(seqs, ev.GetSeq())
			if ev.GetRecipientId() == ev.GetSenderId() || (ev.GetRecipientId() != a && ev.GetRecipientId() != b) {
				t.Fatalf("MessageSent %d: sender %s, recipient %s", ev.GetSeq(), ev.GetSenderId(), ev.GetRecipientId())
			}
		}
	}
	if len(events) != 4 || len(seqs) != 3 || seqs[0] != 1 || seqs[1] != 2 || seqs[2] != 3 {
		t.Fatalf("%d MessageSent, chat's seqs in outbox order %v; want 4, and 1 2 3", len(events), seqs)
	}
}

// A group the database refuses as a whole is written again send by send: the send at fault gets
// the error, the others are stored, and no seq is spent on the refused one.
func TestOneSendsFailureIsNotItsGroups(t *testing.T) {
	s, pool := newStore(t)
	a, b, c := newID(), newID(), newID()
	befriend(t, s, pool, a, b, true)
	befriend(t, s, pool, a, c, true)
	ab, ac := chat.ChatID(a, b), chat.ChatID(a, c)

	// Validation keeps such a text from the store; the table's CHECK refuses it here.
	sends := []chat.NewMessage{newMessage(ab, a, "fine"), newMessage(ab, b, strings.Repeat("x", 4001)), newMessage(ac, a, "fine too")}
	chatdb.HoldSends(s)
	chans := queueSends(t, s, context.Background(), sends...)
	chatdb.ReleaseSends(s)
	r := results(t, chans)

	if r[1].err == nil || errors.Is(r[1].err, chat.ErrNotFriends) || errors.Is(r[1].err, chat.ErrChatNotFound) {
		t.Fatalf("oversized text: %v; want the database's refusal", r[1].err)
	}
	if r[0].err != nil || r[0].msg.Seq != 1 || r[2].err != nil || r[2].msg.Seq != 1 {
		t.Fatalf("the others: seq %d, %v; seq %d, %v; want both stored at seq 1", r[0].msg.Seq, r[0].err, r[2].msg.Seq, r[2].err)
	}
	next, _, err := s.Send(context.Background(), newMessage(ab, b, "after"))
	if err != nil || next.Seq != 2 {
		t.Fatalf("next send: seq %d, %v; want 2", next.Seq, err)
	}
}

// A send whose request ends while it waits in the queue leaves it, stores nothing, and says so.
func TestACancelledQueuedSendStoresNothing(t *testing.T) {
	s, pool := newStore(t)
	a, b := newID(), newID()
	befriend(t, s, pool, a, b, true)
	m := newMessage(chat.ChatID(a, b), a, "never mind")

	ctx, cancel := context.WithCancel(context.Background())
	chatdb.HoldSends(s)
	chans := queueSends(t, s, ctx, m)
	cancel()
	r := results(t, chans)
	if !errors.Is(r[0].err, context.Canceled) {
		t.Fatalf("cancelled send: %v; want context.Canceled", r[0].err)
	}
	if n := chatdb.QueuedSends(s); n != 0 {
		t.Fatalf("%d sends still queued", n)
	}
	chatdb.ReleaseSends(s)

	msg, dup, err := s.Send(context.Background(), m)
	if err != nil || dup || msg.Seq != 1 {
		t.Fatalf("the same send again: seq %d, dup %v, %v; want it stored now, at seq 1", msg.Seq, dup, err)
	}
}

// More sends than a group carries are written in several groups, none lost or repeated.
func TestAQueueLongerThanAGroup(t *testing.T) {
	s, pool := newStore(t)
	a, b := newID(), newID()
	befriend(t, s, pool, a, b, true)
	sends := make([]chat.NewMessage, chatdb.MaxGroup+3)
	for i := range sends {
		sends[i] = newMessage(chat.ChatID(a, b), a, "many")
	}
	chatdb.HoldSends(s)
	chans := queueSends(t, s, context.Background(), sends...)
	chatdb.ReleaseSends(s)
	for i, r := range results(t, chans) {
		if r.err != nil || r.msg.Seq != int64(i+1) {
			t.Fatalf("send %d: seq %d, %v; want %d", i, r.msg.Seq, r.err, i+1)
		}
	}
}

// sendSQL touches rows only by key. Planned while the tables are small, as pgx's prepared
// statement is when a service starts on a new database, its plan must still not scan a table
// whole: kept, such a plan cost more with every message stored (planSQL sees to it).
func TestSendPlanScansNoTable(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	a, b := newID(), newID()
	befriend(t, s, pool, a, b, true)
	for range 3 {
		if _, _, err := s.Send(ctx, newMessage(chat.ChatID(a, b), a, "small")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, chatdb.PlanSQL); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `PREPARE send(uuid[], uuid[], uuid[], uuid[], text[], text[], text[], uuid[], timestamptz[], bytea[], text[], text, text, text) AS `+chatdb.SendSQL); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `EXPLAIN EXECUTE send(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
		if err != nil {
			return err
		}
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		text := strings.Join(plan, "\n")
		if strings.Contains(text, "Seq Scan") || !strings.Contains(text, "messages_chat_id_sender_id_client_msg_id_key") {
			t.Errorf("plan scans a table, or looks duplicates up without their index:\n%s", text)
		}
		return errors.New("rollback")
	})
	if err != nil && err.Error() != "rollback" {
		t.Fatal(err)
	}
}

// panickyPublisher panics once on Wake, after a group has committed.
type panickyPublisher struct {
	chatdb.Publisher
	panicked atomic.Bool
}

func (p *panickyPublisher) Wake() {
	if p.panicked.CompareAndSwap(false, true) {
		panic("wake failed")
	}
	p.Publisher.Wake()
}

// A writer that panics (here after its group committed) still answers every send of its group and
// hands the queue on: no send waits for ever, and later sends go through.
func TestAPanickingWriterLeavesNoSendWaiting(t *testing.T) {
	_, pool := newStore(t)
	s := chatdb.New(pool, &panickyPublisher{Publisher: events.NewOutbox("chat")})
	a, b := newID(), newID()
	befriend(t, s, pool, a, b, true)
	ab := chat.ChatID(a, b)

	chatdb.HoldSends(s)
	sends := []chat.NewMessage{newMessage(ab, a, "one"), newMessage(ab, b, "two")}
	chans := make([]chan sendResult, len(sends))
	for i, m := range sends {
		chans[i] = make(chan sendResult, 1)
		go func() {
			defer func() {
				if r := recover(); r != nil {
					chans[i] <- sendResult{err: fmt.Errorf("panic: %v", r)}
				}
			}()
			msg, dup, err := s.Send(context.Background(), m)
			chans[i] <- sendResult{msg, dup, err}
		}()
		for chatdb.QueuedSends(s) < i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	chatdb.ReleaseSends(s)
	for i, r := range results(t, chans) {
		if r.err == nil {
			t.Fatalf("send %d: no error from a group whose writer panicked", i)
		}
	}
	// Both were committed before the panic: sent again, they are found.
	for _, m := range sends {
		if _, dup, err := s.Send(context.Background(), m); err != nil || !dup {
			t.Fatalf("the same send again: dup %v, %v; want the stored message", dup, err)
		}
	}
	if _, _, err := s.Send(context.Background(), newMessage(ab, a, "three")); err != nil {
		t.Fatalf("a later send: %v", err)
	}
}

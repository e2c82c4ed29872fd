package chatdb_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/services/chat/internal/chat"
	"github.com/parleyhq/parley/services/chat/internal/chatdb"
)

func newStore(tb testing.TB) (*chatdb.Store, *pgxpool.Pool) {
	tb.Helper()
	pool := eventstest.NewDB(tb, "chat", chatdb.Migrations)
	return chatdb.New(pool, events.NewOutbox("chat")), pool
}

func newID() string { return uuid.NewString() }

// befriend applies a friend event's effect the way the consumer does, in a transaction.
func befriend(tb testing.TB, s *chatdb.Store, pool *pgxpool.Pool, a, b string, friends bool) {
	tb.Helper()
	err := pg.InTx(context.Background(), pool, func(tx pgx.Tx) error {
		_, err := s.SetFriendship(context.Background(), tx, a, b, friends)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func newMessage(chatID, sender, text string) chat.NewMessage {
	id, _ := uuid.NewV7()
	return chat.NewMessage{ID: id.String(), ChatID: chatID, SenderID: sender, ClientMsgID: newID(), Text: text}
}

// outboxEvents returns the payloads of the outbox rows of type T, in publishing order.
func outboxEvents[T proto.Message](tb testing.TB, pool *pgxpool.Pool, newT func() T) []T {
	tb.Helper()
	name := string(newT().ProtoReflect().Descriptor().FullName())
	rows, err := pool.Query(context.Background(), `SELECT key, topic, payload FROM outbox WHERE ce_type = $1 ORDER BY id`, name)
	if err != nil {
		tb.Fatal(err)
	}
	var out []T
	for rows.Next() {
		var key, topic string
		var payload []byte
		if err := rows.Scan(&key, &topic, &payload); err != nil {
			tb.Fatal(err)
		}
		if topic != "parley.chat.v1" {
			tb.Fatalf("%s on topic %q; want parley.chat.v1", name, topic)
		}
		msg := newT()
		if err := proto.Unmarshal(payload, msg); err != nil {
			tb.Fatal(err)
		}
		if got := msg.ProtoReflect().Get(msg.ProtoReflect().Descriptor().Fields().ByName("chat_id")).String(); got != key {
			tb.Fatalf("%s keyed %q; want its chat_id %q", name, key, got)
		}
		out = append(out, msg)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestConcurrentSendersGetGapFreeIncreasingSeqs(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	a, b := newID(), newID()
	befriend(t, s, pool, a, b, true)
	chatID := chat.ChatID(a, b)

	const senders, each = 8, 25
	var mu sync.Mutex
	var seqs []int64
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for g := range senders {
		sender := []string{a, b}[g%2]
		wg.Go(func() {
			last := int64(0)
			for i := range each {
				m, dup, err := s.Send(ctx, newMessage(chatID, sender, fmt.Sprintf("g%d m%d", g, i)))
				if err != nil || dup {
					errs <- fmt.Errorf("sender %d message %d: dup %v, %w", g, i, dup, err)
					return
				}
				if m.Seq <= last {
					errs <- fmt.Errorf("sender %d got seq %d after %d: not increasing", g, m.Seq, last)
					return
				}
				last = m.Seq
				mu.Lock()
				seqs = append(seqs, m.Seq)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	slices.Sort(seqs)
	for i, seq := range seqs {
		if seq != int64(i+1) {
			t.Fatalf("returned seqs are not exactly 1..%d: position %d holds %d", senders*each, i, seq)
		}
	}
	if len(seqs) != senders*each {
		t.Fatalf("%d seqs returned; want %d", len(seqs), senders*each)
	}
	// Stored: seqs 1..200, sent_at never decreasing with seq, and the chat's counter at 200.
	rows, err := pool.Query(ctx, `SELECT seq, sent_at FROM messages WHERE chat_id = $1 ORDER BY seq`, chatID)
	if err != nil {
		t.Fatal(err)
	}
	var prev time.Time
	n := int64(0)
	for rows.Next() {
		var seq int64
		var at time.Time
		if err := rows.Scan(&seq, &at); err != nil {
			t.Fatal(err)
		}
		n++
		if seq != n || at.Before(prev) {
			t.Fatalf("stored message %d: seq %d sent at %v after %v", n, seq, at, prev)
		}
		prev = at
	}
	if rows.Err() != nil || n != senders*each {
		t.Fatalf("%d messages stored (%v); want %d", n, rows.Err(), senders*each)
	}
	c, err := s.GetChat(ctx, a, chatID)
	if err != nil || c.LastSeq != senders*each {
		t.Fatalf("chat last_seq %d (%v); want %d", c.LastSeq, err, senders*each)
	}
	// One MessageSent per message, in seq order (the chat row's lock orders the transactions).
	sent := outboxEvents(t, pool, func() *eventsv1.MessageSent { return new(eventsv1.MessageSent) })
	if len(sent) != senders*each {
		t.Fatalf("%d MessageSent events; want %d", len(sent), senders*each)
	}
	for i, ev := range sent {
		if ev.GetSeq() != int64(i+1) {
			t.Fatalf("MessageSent #%d has seq %d: events are not in seq order", i+1, ev.GetSeq())
		}
		want := b
		if ev.GetSenderId() == b {
			want = a
		}
		if ev.GetRecipientId() != want {
			t.Fatalf("MessageSent from %s to %s; want recipient %s", ev.GetSenderId(), ev.GetRecipientId(), want)
		}
	}
}

func TestSendIsIdempotentOnClientMsgID(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	a, b := newID(), newID()
	befriend(t, s, pool, a, b, true)
	chatID := chat.ChatID(a, b)

	first := newMessage(chatID, a, "hello")
	first.Attachments = []chat.Attachment{{FileID: newID(), Name: "a.png", ContentType: "image/png", SizeBytes: 10, Width: 2, Height: 1}, {FileID: newID(), Name: "b.pdf", ContentType: "application/pdf", SizeBytes: 20}}
	m1, dup, err := s.Send(ctx, first)
	if err != nil || dup || m1.Seq != 1 {
		t.Fatalf("first send: %+v dup %v, %v", m1, dup, err)
	}
	again := first
	again.ID, again.Text, again.Attachments = newID(), "different text", nil
	m2, dup, err := s.Send(ctx, again)
	if err != nil || !dup {
		t.Fatalf("repeat: dup %v, %v; want the first message as a duplicate", dup, err)
	}
	if m2.ID != m1.ID || m2.Text != "hello" || m2.Seq != 1 || !m2.SentAt.Equal(m1.SentAt) ||
		!slices.Equal(m2.Attachments, first.Attachments) || m2.ClientMsgID != first.ClientMsgID || m2.ChatID != chatID {
		t.Fatalf("repeat returned %+v; want the first message %+v", m2, m1)
	}
	// The same key from the other participant is a different message.
	other := again
	other.SenderID, other.ID = b, newID()
	if m3, dup, err := s.Send(ctx, other); err != nil || dup || m3.Seq != 2 {
		t.Fatalf("same client_msg_id from the peer: %+v dup %v, %v; want a new message with seq 2", m3, dup, err)
	}

	// Racing repeats of one key store one message; every call returns it.
	race := newMessage(chatID, a, "raced")
	const n = 8
	ids := make(chan string, n)
	fresh := make(chan bool, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			m := race
			m.ID = newID()
			got, dup, err := s.Send(ctx, m)
			if err != nil {
				t.Error(err)
				return
			}
			ids <- got.ID
			fresh <- !dup
		})
	}
	wg.Wait()
	close(ids)
	close(fresh)
	var seen []string
	for id := range ids {
		seen = append(seen, id)
	}
	if distinct := slices.Compact(slices.Sorted(slices.Values(seen))); len(distinct) != 1 || len(seen) != n {
		t.Fatalf("racing repeats returned ids %v; want one id %d times", seen, n)
	}
	stored := 0
	for f := range fresh {
		if f {
			stored++
		}
	}
	var rows, lastSeq int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM messages WHERE chat_id = $1), (SELECT last_seq FROM chats WHERE chat_id = $1)`, chatID).Scan(&rows, &lastSeq); err != nil {
		t.Fatal(err)
	}
	if stored != 1 || rows != 3 || lastSeq != 3 {
		t.Fatalf("racing repeats: %d calls stored, %d rows, last_seq %d; want 1, 3, 3 (no seq spent on a duplicate)", stored, rows, lastSeq)
	}
	if sent := outboxEvents(t, pool, func() *eventsv1.MessageSent { return new(eventsv1.MessageSent) }); len(sent) != 3 {
		t.Fatalf("%d MessageSent events; want 3, one per stored message", len(sent))
	}
}

func TestSendRefusals(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	a, b, stranger := newID(), newID(), newID()
	befriend(t, s, pool, a, b, true)
	chatID := chat.ChatID(a, b)
	if _, _, err := s.Send(ctx, newMessage(chatID, a, "one")); err != nil {
		t.Fatal(err)
	}

	if _, _, err := s.Send(ctx, newMessage(chatID, stranger, "let me in")); !errors.Is(err, chat.ErrChatNotFound) {
		t.Fatalf("stranger's send: %v; want ErrChatNotFound", err)
	}
	if _, _, err := s.Send(ctx, newMessage(newID(), a, "nowhere")); !errors.Is(err, chat.ErrChatNotFound) {
		t.Fatalf("send to an unknown chat: %v; want ErrChatNotFound", err)
	}

	// After FriendRemoved: sending is refused without spending a seq, history stays readable,
	// and the RPC path's CreateChat does not reopen the chat.
	befriend(t, s, pool, b, a, false)
	kept := newMessage(chatID, a, "after removal")
	if _, _, err := s.Send(ctx, kept); !errors.Is(err, chat.ErrNotFriends) {
		t.Fatalf("send after removal: %v; want ErrNotFriends", err)
	}
	if err := s.CreateChat(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Send(ctx, newMessage(chatID, b, "still closed")); !errors.Is(err, chat.ErrNotFriends) {
		t.Fatalf("send after CreateChat on a closed chat: %v; want ErrNotFriends", err)
	}
	msgs, err := s.ListMessages(ctx, b, chatID, chat.Older, 1<<62, 10)
	if err != nil || len(msgs) != 1 || msgs[0].Text != "one" {
		t.Fatalf("history after removal: %+v, %v", msgs, err)
	}
	if p, can, err := s.Access(ctx, a, chatID); err != nil || !p || can {
		t.Fatalf("access after removal: participant %v can_send %v, %v", p, can, err)
	}

	// Friends again: the next message gets seq 2.
	befriend(t, s, pool, a, b, true)
	m, _, err := s.Send(ctx, kept)
	if err != nil || m.Seq != 2 {
		t.Fatalf("send after re-friending: %+v, %v; want seq 2", m, err)
	}
	// No connection was left inside a transaction by the refusals.
	var idleInTx int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&idleInTx); err != nil || idleInTx != 0 {
		t.Fatalf("%d connections idle in a transaction (%v)", idleInTx, err)
	}
}

func TestSetFriendshipCreatesOneChat(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	a, b := newID(), newID()
	var created []bool
	for _, pair := range [][2]string{{a, b}, {b, a}, {a, b}} {
		err := pg.InTx(ctx, pool, func(tx pgx.Tx) error {
			c, err := s.SetFriendship(ctx, tx, pair[0], pair[1], true)
			created = append(created, c)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var chats, members int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM chats), (SELECT count(*) FROM chat_members)`).Scan(&chats, &members); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(created, []bool{true, false, false}) || chats != 1 || members != 2 {
		t.Fatalf("created %v, %d chats, %d members; want [true false false], 1, 2", created, chats, members)
	}
	// FriendRemoved for a pair without a chat creates it closed.
	c, d := newID(), newID()
	befriend(t, s, pool, c, d, false)
	if p, can, err := s.Access(ctx, c, chat.ChatID(c, d)); err != nil || !p || can {
		t.Fatalf("chat made by FriendRemoved: participant %v can_send %v, %v; want true, false", p, can, err)
	}
}

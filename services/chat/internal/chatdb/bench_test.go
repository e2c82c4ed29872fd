package chatdb_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/services/chat/internal/chat"
	"github.com/parleyhq/parley/services/chat/internal/chatdb"
)

// BenchmarkSendMessage measures the send path from the use case (chat.Service.Send: validation,
// id, the store's transaction) to the durable commit (synchronous_commit as the server has it;
// on by default), against the real Postgres of pgtest, through a pool of 16 connections as the
// service runs with. The chats exist, so no other service is asked. Run it with
//
//	go test -run '^$' -bench SendMessage -benchtime 5s ./internal/chatdb/
//
// one_sender: one send at a time, so ns/op is a send's latency (one round trip and the WAL
// flush); across_chats: 32 senders (b.SetParallelism(16) on 2 CPUs) each in a chat of their own, the
// usual shape of traffic; one_chat: the same senders all in one chat, the worst case, where the
// chat's lock serialises every send.
func BenchmarkSendMessage(b *testing.B) {
	s, pool := newStore(b)
	big, err := pgxpool.New(context.Background(), pgtest.URL(b, pool)+"&pool_max_conns=16")
	if err != nil {
		b.Fatal(err)
	}
	defer big.Close()
	quiet := events.NewOutbox("chat")
	quiet.WakeRelay = false // as run.go configures it
	svc := chat.NewService(chatdb.New(big, quiet), nil, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))

	const chats = 64
	type pair struct{ sender, chatID string }
	pairs := make([]pair, chats)
	for i := range pairs {
		a, c := uuid.NewString(), uuid.NewString()
		befriend(b, s, pool, a, c, true)
		pairs[i] = pair{a, chat.ChatID(a, c)}
	}
	text := "Hello! This is a benchmark message of a typical length, about eighty characters."

	run := func(b *testing.B, svc *chat.Service, pick func(worker int) pair) {
		var workers atomic.Int64
		b.SetParallelism(16)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			p := pick(int(workers.Add(1)))
			for pb.Next() {
				if _, _, err := svc.Send(context.Background(), p.sender, chat.SendRequest{ChatID: p.chatID, ClientMsgID: uuid.NewString(), Text: text}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	}
	b.Run("one_sender", func(b *testing.B) { // latency: one send at a time
		p := pairs[1]
		for b.Loop() {
			if _, _, err := svc.Send(context.Background(), p.sender, chat.SendRequest{ChatID: p.chatID, ClientMsgID: uuid.NewString(), Text: text}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("across_chats", func(b *testing.B) { run(b, svc, func(w int) pair { return pairs[w%chats] }) })
	b.Run("one_chat", func(b *testing.B) { run(b, svc, func(int) pair { return pairs[0] }) })
}

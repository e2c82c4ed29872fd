package chatdb_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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
		cpu0 := backendsCPU(b, big)
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
		b.ReportMetric(float64((backendsCPU(b, big)-cpu0).Microseconds())/float64(b.N), "pg-cpu-µs/op")
	}
	b.Run("one_sender", func(b *testing.B) { // latency: one send at a time
		p := pairs[1]
		cpu0 := backendsCPU(b, big)
		for b.Loop() {
			if _, _, err := svc.Send(context.Background(), p.sender, chat.SendRequest{ChatID: p.chatID, ClientMsgID: uuid.NewString(), Text: text}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		b.ReportMetric(float64((backendsCPU(b, big)-cpu0).Microseconds())/float64(b.N), "pg-cpu-µs/op")
	})
	b.Run("across_chats", func(b *testing.B) { run(b, svc, func(w int) pair { return pairs[w%chats] }) })
	b.Run("one_chat", func(b *testing.B) { run(b, svc, func(int) pair { return pairs[0] }) })
}

// backendsCPU is the CPU time (user + system) the Postgres backends serving pool's database have
// used so far, read from /proc: the database is the test's own, so other clients of the server —
// other tests, other work on the machine — are not counted (the WAL writer and other shared
// processes are not either). The server must run on this machine.
func backendsCPU(b *testing.B, pool *pgxpool.Pool) time.Duration {
	b.Helper()
	rows, err := pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	var ticks int64
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			b.Fatalf("the database's backends must run on this machine: %v", err)
		}
		// Fields after the command name (which may hold spaces): utime and stime are the 12th
		// and 13th (fields 14 and 15 of the whole line).
		f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
		for _, v := range f[11:13] {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

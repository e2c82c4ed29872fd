package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1/chatv1connect"
	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/platform/proctest"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/platform/startup"
	"github.com/parleyhq/parley/platform/telemetry"
	"github.com/parleyhq/parley/platform/waittest"
	"github.com/parleyhq/parley/services/chat/internal/chat"
)

// runOn is main's start-up, with an optional listener already open (tests listen on port 0).
func runOn(ctx context.Context, logger *slog.Logger, args []string, ln net.Listener) error {
	return startup.Run(ctx, logger, args, ln, service())
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func withBearer[T any](msg *T, token string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	req.Header().Set("Authorization", "Bearer "+token)
	return req
}

func header(r *kgo.Record, k string) string {
	for _, h := range r.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

// TestRunConsumesFriendEventsServesAndPublishes runs the whole process: FriendAccepted on Kafka
// creates the chat, SendMessage and MarkRead over Connect, MessageSent and MessagesRead on
// parley.chat.v1 through the outbox relay, and a clean shutdown.
func TestRunConsumesFriendEventsServesAndPublishes(t *testing.T) {
	_, brokers := kafkatest.New(t)
	iss := authntest.New(t)
	t.Setenv("DATABASE_URL", pgtest.URL(t, pgtest.New(t)))
	t.Setenv("KAFKA_BROKERS", strings.Join(brokers, ","))
	t.Setenv("REDIS_URL", "redis://"+redistest.Addr())
	t.Setenv("AUTH_JWKS_URL", iss.JWKSURL())
	t.Setenv("FRIEND_URL", "http://127.0.0.1:1") // never asked: the event creates the chat
	admin := proctest.FreeAddr(t)
	t.Setenv("ADMIN_ADDR", admin)
	base, stop := waittest.StartService(t, func(ctx context.Context, ln net.Listener) error {
		return runOn(ctx, quietLogger(), nil, ln)
	})
	ctx := t.Context()

	alice, bob := uuid.NewString(), uuid.NewString()
	chatID := chat.ChatID(alice, bob)
	payload, _ := proto.Marshal(&eventsv1.FriendAccepted{RequestId: uuid.NewString(), RequesterId: alice, AccepterId: bob})
	producer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	if err := producer.ProduceSync(ctx, &kgo.Record{Topic: topics.Friend, Key: []byte(alice + ":" + bob), Value: payload, Headers: []kgo.RecordHeader{
		{Key: events.HeaderID, Value: []byte(uuid.NewString())},
		{Key: events.HeaderType, Value: []byte("parley.events.v1.FriendAccepted")},
		{Key: events.HeaderSource, Value: []byte("friend")},
		{Key: events.HeaderSpecVersion, Value: []byte(events.SpecVersion)},
	}}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	client := chatv1connect.NewChatServiceClient(http.DefaultClient, base)
	aliceTok, bobTok := iss.Token(t, alice), iss.Token(t, bob)
	waittest.Until(t, "the chat from FriendAccepted", func() bool {
		res, err := client.GetChat(ctx, withBearer(&chatv1.GetChatRequest{By: &chatv1.GetChatRequest_UserId{UserId: bob}}, aliceTok))
		if err != nil && connect.CodeOf(err) != connect.CodeNotFound {
			t.Fatalf("chat from FriendAccepted: %v", err)
		}
		return err == nil && res.Msg.GetChat().GetCanSend()
	})
	sent, err := client.SendMessage(ctx, withBearer(&chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_UserId{UserId: bob},
		ClientMsgId: uuid.NewString(), Text: "hello bob"}, aliceTok))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.MarkRead(ctx, withBearer(&chatv1.MarkReadRequest{ChatId: chatID, UpToSeq: 1}, bobTok)); err != nil {
		t.Fatal(err)
	}

	consumer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.Chat), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pollCtx, pollCancel := context.WithTimeout(ctx, 30*time.Second)
	defer pollCancel()
	var got []*kgo.Record
	for len(got) < 2 && pollCtx.Err() == nil {
		consumer.PollFetches(pollCtx).EachRecord(func(r *kgo.Record) { got = append(got, r) })
	}
	if len(got) != 2 {
		t.Fatalf("%d records on %s; want MessageSent and MessagesRead", len(got), topics.Chat)
	}
	for _, r := range got {
		if string(r.Key) != chatID || header(r, events.HeaderSource) != "chat" {
			t.Fatalf("record key %q source %q; want the chat id and chat", r.Key, header(r, events.HeaderSource))
		}
	}
	var ms eventsv1.MessageSent
	if header(got[0], events.HeaderType) != "parley.events.v1.MessageSent" || proto.Unmarshal(got[0].Value, &ms) != nil ||
		ms.GetMessageId() != sent.Msg.GetMessage().GetMessageId() || ms.GetRecipientId() != bob || ms.GetSeq() != 1 || ms.GetText() != "hello bob" {
		t.Fatalf("first record %s: %v", header(got[0], events.HeaderType), &ms)
	}
	var mr eventsv1.MessagesRead
	if header(got[1], events.HeaderType) != "parley.events.v1.MessagesRead" || proto.Unmarshal(got[1].Value, &mr) != nil ||
		mr.GetReaderId() != bob || mr.GetPeerId() != alice || mr.GetUpToSeq() != 1 {
		t.Fatalf("second record %s: %v", header(got[1], events.HeaderType), &mr)
	}

	// The operator's view of the same: /metrics on the admin listener parses as Prometheus reads
	// it, and the series of what just happened have moved.
	waittest.UntilNil(t, "chat's metrics to show the calls, the events and the pool", func() error {
		families, err := scrapeMetrics("http://" + admin + "/metrics")
		if err != nil {
			return err
		}
		for _, want := range []struct {
			name   string
			labels map[string]string
		}{
			{telemetry.MetricRPCDuration, map[string]string{"service": "chat", "procedure": chatv1connect.ChatServiceSendMessageProcedure, "code": "ok"}},
			{telemetry.MetricOutboxPublished, map[string]string{"service": "chat"}},
			{telemetry.MetricConsumerHandled, map[string]string{"group": "chat"}},
			{telemetry.MetricDBPoolAcquires, nil},
		} {
			if v := metricValue(families[want.name], want.labels); v < 1 {
				return fmt.Errorf("%s%v = %v, want ≥ 1", want.name, want.labels, v)
			}
		}
		if _, ok := families[telemetry.MetricOutboxOldestAge]; !ok {
			return fmt.Errorf("no %s", telemetry.MetricOutboxOldestAge)
		}
		return nil
	})

	stop()
}

func TestMigrateSubcommand(t *testing.T) {
	pool := pgtest.New(t)
	t.Setenv("DATABASE_URL", pgtest.URL(t, pool))
	if err := runOn(context.Background(), quietLogger(), []string{"migrate"}, nil); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(context.Background(),
		`SELECT count(*) FROM information_schema.tables WHERE table_name IN ('chats', 'chat_members', 'messages', 'peer_profiles', 'outbox', 'inbox')`).Scan(&n); err != nil || n != 6 {
		t.Fatalf("%d of the 6 tables exist after migrate (%v)", n, err)
	}
	if err := runOn(context.Background(), quietLogger(), []string{"bogus"}, nil); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("unknown subcommand: %v", err)
	}
}

func TestWithMaxConns(t *testing.T) {
	cases := map[string]string{
		"postgres://u@h:5432/parley_chat?sslmode=disable": "postgres://u@h:5432/parley_chat?pool_max_conns=16&sslmode=disable",
		"postgres://u@h/parley_chat?pool_max_conns=4":     "postgres://u@h/parley_chat?pool_max_conns=4",
		"host=h dbname=parley_chat":                       "host=h dbname=parley_chat pool_max_conns=16",
	}
	for in, want := range cases {
		if got, err := withMaxConns(in, 16); err != nil || got != want {
			t.Errorf("withMaxConns(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// scrapeMetrics reads url and parses it with Prometheus' own text parser.
func scrapeMetrics(url string) (map[string]*dto.MetricFamily, error) {
	res, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(res.Body)
}

// metricValue sums the family's series whose labels include want (a histogram's: its count).
func metricValue(mf *dto.MetricFamily, want map[string]string) float64 {
	total := 0.0
next:
	for _, m := range mf.GetMetric() {
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == k && l.GetValue() == v)
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.GetHistogram() != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		case m.GetCounter() != nil:
			total += m.GetCounter().GetValue()
		default:
			total += m.GetGauge().GetValue()
		}
	}
	return total
}

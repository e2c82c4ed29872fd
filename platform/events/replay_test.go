package events_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/telemetry"
	"github.com/parleyhq/parley/platform/waittest"
)

// A dead letter replayed before its cause is fixed fails again and goes back to the same
// dead-letter topic; replayed after the fix, it has its effect once, in the group that failed and
// no other; every run replays only what no run before it did, and -list copies nothing.
func TestReplayedDeadLettersReachOnlyTheGroupThatFailed(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	_, brokers := kafkatest.New(t)
	log, _ := testLogger(t)
	const topic, group, other = "replay.t", "g", "other"
	createTopics(ctx, t, brokers, topic)
	dlq, replay := events.DeadLetterTopic(topic, group), events.ReplayTopic(topic, group)
	if replay != "replay.t.replay.g" {
		t.Errorf("replay topic %q", replay)
	}
	poison := ceRecord(topic, "k", wrapperspb.String("poison"))
	produce(t, brokers, ceRecord(topic, "k", wrapperspb.String("a")), poison, ceRecord(topic, "k", wrapperspb.String("b")))

	var broken atomic.Bool
	broken.Store(true)
	tel := telemetry.New("test", nil)
	c := newConsumer(t, events.ConsumerConfig{Brokers: brokers, Group: group, Topics: []string{topic}, Pool: pool, Logger: log,
		Telemetry: tel, RetryBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	events.On(c, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *wrapperspb.StringValue) error {
		if msg.GetValue() == "poison" && broken.Load() {
			return events.Permanent(errPoison)
		}
		return writeEffect(ctx, tx, ev, msg)
	})
	waittest.Go(t, c.Run)

	// Another group on the same topic, without a database: it would handle a record it sees twice.
	var mu sync.Mutex
	var seen []string
	oc := newConsumer(t, events.ConsumerConfig{Brokers: brokers, Group: other, Topics: []string{topic}, Logger: log})
	events.On(oc, func(_ context.Context, _ pgx.Tx, _ events.Event, msg *wrapperspb.StringValue) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, msg.GetValue())
		return nil
	})
	waittest.Go(t, oc.Run)
	otherSeen := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}

	eventually(t, "a and b applied, poison dead-lettered", func() bool {
		return len(effects(t, pool)) == 2 && endOffsets(t, brokers, dlq) == 1
	})

	replayAll := func(list bool) (int, []events.DeadLetter) {
		t.Helper()
		var got []events.DeadLetter
		n, err := events.ReplayDeadLetters(ctx, events.ReplayConfig{Brokers: brokers, Topic: topic, Group: group, List: list, Logger: log},
			func(d events.DeadLetter) { got = append(got, d) })
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		if n != len(got) {
			t.Fatalf("replay returned %d, reported %d", n, len(got))
		}
		return n, got
	}

	// Replayed while the handler is still broken: dead-lettered again, to the same topic, with one
	// set of dlq_* headers.
	n, got := replayAll(false)
	if n != 1 || got[0].EventID != header(poison, events.HeaderID) || got[0].EventType != "google.protobuf.StringValue" ||
		!strings.Contains(got[0].Error, errPoison.Error()) || !strings.HasPrefix(got[0].From, topic+"/") || got[0].Attempts != "1" {
		t.Fatalf("first replay: %d, %+v", n, got)
	}
	eventually(t, "the replayed record dead-lettered again", func() bool { return endOffsets(t, brokers, dlq) == 2 })
	// Counted under the record's own topic, whose dead-letter topic the alert names.
	if got := gauge(t, tel, telemetry.MetricConsumerDeadLettered, map[string]string{"group": group, "topic": topic}); got != 2 {
		t.Errorf("%s{topic=%s} = %v, want 2 (the replayed record's failure too)", telemetry.MetricConsumerDeadLettered, topic, got)
	}
	again := kafkatest.Read(t, brokers, dlq, 2)[1]
	if header(again, events.HeaderID) != header(poison, events.HeaderID) || header(again, events.HeaderDLQTopic) != replay {
		t.Errorf("dead-lettered again: ce_id %q dlq_topic %q, want %q and %q",
			header(again, events.HeaderID), header(again, events.HeaderDLQTopic), header(poison, events.HeaderID), replay)
	}
	if n := countHeaders(again, events.HeaderDLQError); n != 1 {
		t.Errorf("dead-lettered again with %d dlq_error headers, want 1", n)
	}

	// Listing reports the one dead letter not replayed yet (the second) and copies nothing.
	n, got = replayAll(true)
	if n != 1 || got[0].Offset != 1 || got[0].From != replay+"/0@0" {
		t.Fatalf("list: %d, %+v", n, got)
	}
	if n := endOffsets(t, brokers, replay); n != 1 {
		t.Fatalf("%s has %d records after a list, want the first replay's 1", replay, n)
	}

	// Fixed: replayed again, the event has its effect, once, in this group only.
	broken.Store(false)
	if n, _ := replayAll(false); n != 1 {
		t.Fatalf("second replay copied %d, want 1", n)
	}
	eventually(t, "the poison event applied", func() bool { return len(effects(t, pool)) == 3 })
	if n, _ := replayAll(false); n != 0 {
		t.Fatalf("a third replay copied %d, want 0: everything was replayed", n)
	}
	produce(t, brokers, ceRecord(topic, "k", wrapperspb.String("c")))
	eventually(t, "c applied in both groups", func() bool {
		return len(effects(t, pool)) == 4 && slices.Contains(otherSeen(), "c")
	})
	if got := effects(t, pool); !slices.Equal(got, []string{"a", "b", "poison", "c"}) {
		t.Errorf("effects %v, want [a b poison c]", got)
	}
	if got := otherSeen(); !slices.Equal(got, []string{"a", "poison", "b", "c"}) {
		t.Errorf("the other group saw %v, want each record once: [a poison b c]", got)
	}
	if n := endOffsets(t, brokers, dlq); n != 2 {
		t.Errorf("%s has %d records, want 2", dlq, n)
	}
}

func TestReplayOfAnUnknownDeadLetterTopicSaysWhich(t *testing.T) {
	_, brokers := kafkatest.New(t)
	log, _ := testLogger(t)
	_, err := events.ReplayDeadLetters(context.Background(), events.ReplayConfig{Brokers: brokers, Topic: "nope", Group: "g", Logger: log}, nil)
	if err == nil || !strings.Contains(err.Error(), "no topic nope.dlq.g") {
		t.Fatalf("err %v, want one naming the dead-letter topic", err)
	}
}

func countHeaders(r *kgo.Record, key string) int {
	n := 0
	for _, h := range r.Headers {
		if h.Key == key {
			n++
		}
	}
	return n
}

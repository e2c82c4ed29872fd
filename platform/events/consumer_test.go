package events_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
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
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/platform/waittest"
)

// A redelivered event — a duplicate record with the same ce_id, as a relay that crashed between
// Kafka's ack and its commit would send, and a full replay after the group's offsets are reset —
// reaches the handler once and has one effect.
func TestRedeliveredEventHasOneEffect(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	_, brokers := kafkatest.New(t)
	log, _ := testLogger(t)
	const topic, group = "redeliver.t", "g"
	out := events.NewOutbox("test")
	waittest.Go(t, newRelay(t, events.RelayConfig{Pool: pool, Brokers: brokers, Logger: log}).Run)

	var calls atomic.Int32
	counting := func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *wrapperspb.StringValue) error {
		calls.Add(1)
		return writeEffect(ctx, tx, ev, msg)
	}
	c := newConsumer(t, events.ConsumerConfig{Brokers: brokers, Group: group, Topics: []string{topic}, Pool: pool, Logger: log})
	events.On(c, counting)
	stop := waittest.Go(t, c.Run)

	publish(t, pool, out, topic, "k", wrapperspb.String("one"))
	eventually(t, "effect one", func() bool { return len(effects(t, pool)) == 1 })

	// The same record again, then a new event behind it on the same partition: once the new one
	// has its effect, the duplicate has been consumed.
	orig := kafkatest.Read(t, brokers, topic, 1)[0]
	produce(t, brokers, &kgo.Record{Topic: topic, Key: orig.Key, Value: orig.Value, Headers: orig.Headers})
	publish(t, pool, out, topic, "k", wrapperspb.String("two"))
	eventually(t, "effect two", func() bool { return len(effects(t, pool)) >= 2 })
	if got := effects(t, pool); !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("effects %v, want [one two]", got)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("handler called %d times, want 2", n)
	}

	// Forget the group's offsets: everything is delivered again.
	stop()
	adm := admin(t, brokers)
	eventually(t, "the group to be deleted", func() bool {
		resp, err := adm.DeleteGroup(ctx, group)
		return err == nil && resp.Err == nil
	})
	calls.Store(0)
	c2 := newConsumer(t, events.ConsumerConfig{Brokers: brokers, Group: group, Topics: []string{topic}, Pool: pool, Logger: log})
	events.On(c2, counting)
	waittest.Go(t, c2.Run)
	publish(t, pool, out, topic, "k", wrapperspb.String("three"))
	eventually(t, "effect three", func() bool { return len(effects(t, pool)) >= 3 })
	if got := effects(t, pool); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Fatalf("effects %v, want [one two three]", got)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler called %d times after the replay, want 1 (only three)", n)
	}
}

// Malformed records, undecodable payloads, handlers that keep failing or panic: each goes to the
// group's dead-letter topic with error headers, and the record behind them is still handled.
func TestPoisonRecordsGoToDeadLetterTopic(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	_, brokers := kafkatest.New(t)
	log, _ := testLogger(t)
	const topic, group = "poison.t", "g"
	createTopics(ctx, t, brokers, topic)

	noID := ceRecord(topic, "k", wrapperspb.String("no id"))
	noID.Headers = slices.DeleteFunc(noID.Headers, func(h kgo.RecordHeader) bool { return h.Key == events.HeaderID })
	garbage := ceRecord(topic, "k", wrapperspb.String(""))
	garbage.Value = []byte{0xff, 0xff, 0xff}
	poison := ceRecord(topic, "k", wrapperspb.String("poison"))
	panics := ceRecord(topic, "k", wrapperspb.String("panic"))
	good := ceRecord(topic, "k", wrapperspb.String("good"))
	produce(t, brokers, noID, garbage, poison, panics, good) // one key: one partition, in this order

	var mu sync.Mutex
	calls := map[string]int{}
	c := newConsumer(t, events.ConsumerConfig{Brokers: brokers, Group: group, Topics: []string{topic}, Pool: pool, Logger: log,
		MaxAttempts: 3, RetryBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	events.On(c, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *wrapperspb.StringValue) error {
		mu.Lock()
		calls[msg.GetValue()]++
		mu.Unlock()
		switch msg.GetValue() {
		case "poison":
			if err := writeEffect(ctx, tx, ev, msg); err != nil { // rolled back with the failure
				return err
			}
			return errPoison
		case "panic":
			panic("boom")
		}
		return writeEffect(ctx, tx, ev, msg)
	})
	waittest.Go(t, c.Run)

	eventually(t, "the good record's effect", func() bool { return len(effects(t, pool)) > 0 })
	if got := effects(t, pool); !slices.Equal(got, []string{"good"}) {
		t.Fatalf("effects %v, want [good]", got)
	}
	mu.Lock()
	if calls["poison"] != 3 || calls["panic"] != 3 || calls["good"] != 1 {
		t.Errorf("handler calls %v, want poison and panic 3 times, good once", calls)
	}
	mu.Unlock()
	if n := pgtest.Count(t, pool, `SELECT count(*) FROM inbox`); n != 1 {
		t.Errorf("inbox has %d rows, want 1 (failed events roll back their inbox row)", n)
	}

	dlq := events.DeadLetterTopic(topic, group)
	if dlq != "poison.t.dlq.g" {
		t.Errorf("dead-letter topic %q", dlq)
	}
	dead := kafkatest.Read(t, brokers, dlq, 4)
	for i, tc := range []struct {
		orig     *kgo.Record
		attempts string
		err      string
	}{
		{noID, "0", "no ce_id header"},
		{garbage, "1", "decode google.protobuf.StringValue payload"},
		{poison, "3", "poisoned"},
		{panics, "3", "handler panicked: boom"},
	} {
		d := dead[i]
		if string(d.Key) != "k" || string(d.Value) != string(tc.orig.Value) {
			t.Errorf("dead letter %d: key %q value %x, want the original", i, d.Key, d.Value)
		}
		if got := header(d, events.HeaderID); got != header(tc.orig, events.HeaderID) {
			t.Errorf("dead letter %d: ce_id %q, want the original's %q", i, got, header(tc.orig, events.HeaderID))
		}
		if got := header(d, events.HeaderDLQError); !strings.Contains(got, tc.err) {
			t.Errorf("dead letter %d: dlq_error %q, want it to mention %q", i, got, tc.err)
		}
		for h, want := range map[string]string{
			events.HeaderDLQAttempts:  tc.attempts,
			events.HeaderDLQGroup:     group,
			events.HeaderDLQTopic:     topic,
			events.HeaderDLQPartition: strconv.Itoa(int(tc.orig.Partition)),
			events.HeaderDLQOffset:    strconv.FormatInt(tc.orig.Offset, 10),
		} {
			if got := header(d, h); got != want {
				t.Errorf("dead letter %d: %s = %q, want %q", i, h, got, want)
			}
		}
		if _, err := time.Parse(time.RFC3339Nano, header(d, events.HeaderDLQTime)); err != nil {
			t.Errorf("dead letter %d: dlq_time: %v", i, err)
		}
	}
	if n := endOffsets(t, brokers, dlq); n != 4 {
		t.Errorf("dead-letter topic holds %d records, want 4", n)
	}
}

// A consumer stopped while handling a record has committed the offsets of what it finished and not
// of that record; the next consumer of the group handles that record and nothing before it. (One
// record per transaction here; TestABatchIsKeptWholeOrNotAtAll covers batches.)
func TestOffsetsCommittedOnlyAfterHandling(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	_, brokers := kafkatest.New(t)
	log, _ := testLogger(t)
	const topic, group = "offsets.t", "g"
	out := events.NewOutbox("test")
	waittest.Go(t, newRelay(t, events.RelayConfig{Pool: pool, Brokers: brokers, Logger: log}).Run)
	publish(t, pool, out, topic, "k", wrapperspb.String("first"))
	publish(t, pool, out, topic, "k", wrapperspb.String("stall"))

	stalled := make(chan events.Event, 1)
	c1 := newConsumer(t, events.ConsumerConfig{Brokers: brokers, Group: group, Topics: []string{topic}, Pool: pool, Logger: log, BatchSize: 1})
	events.On(c1, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *wrapperspb.StringValue) error {
		if msg.GetValue() == "stall" { // the process dies while handling this one
			stalled <- ev
			<-ctx.Done()
			return ctx.Err()
		}
		return writeEffect(ctx, tx, ev, msg)
	})
	stop1 := waittest.Go(t, c1.Run)
	var ev events.Event
	select {
	case ev = <-stalled:
	case <-time.After(wait):
		t.Fatal("the consumer never reached the second record")
	}
	stop1()

	offs, err := admin(t, brokers).FetchOffsets(ctx, group)
	must(t, err)
	committed, ok := offs.Lookup(topic, ev.Partition)
	if !ok || committed.Err != nil || committed.At != ev.Offset {
		t.Fatalf("committed offset %+v, want %d: the first record done, the stalled one not", committed, ev.Offset)
	}

	var mu sync.Mutex
	var seen []string
	c2 := newConsumer(t, events.ConsumerConfig{Brokers: brokers, Group: group, Topics: []string{topic}, Pool: pool, Logger: log, BatchSize: 1})
	events.On(c2, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *wrapperspb.StringValue) error {
		mu.Lock()
		seen = append(seen, msg.GetValue())
		mu.Unlock()
		return writeEffect(ctx, tx, ev, msg)
	})
	waittest.Go(t, c2.Run)
	eventually(t, "the stalled record's effect", func() bool { return len(effects(t, pool)) == 2 })
	if got := effects(t, pool); !slices.Equal(got, []string{"first", "stall"}) {
		t.Fatalf("effects %v, want [first stall]", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seen, []string{"stall"}) {
		t.Fatalf("restarted consumer handled %v, want only [stall]", seen)
	}
}

// Records fetched together are handled in one transaction. A batch is kept whole or not at all: a
// consumer stopped in the middle of one has committed none of its offsets and kept none of its
// effects, and the next consumer handles all of it, each effect once. A handler failing in a
// batch sends the batch back to one-at-a-time handling: the records around a poison one keep
// their effects, once each, and the poison one is dead-lettered.
func TestABatchIsKeptWholeOrNotAtAll(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	_, brokers := kafkatest.New(t)
	log, _ := testLogger(t)
	const topic, group = "batch.t", "g"
	createTopics(ctx, t, brokers, topic)
	// Produced before any consumer runs, so the first poll fetches them all.
	var recs []*kgo.Record
	for _, v := range []string{"a", "b", "stall", "c"} {
		recs = append(recs, ceRecord(topic, "k", wrapperspb.String(v)))
	}
	recs = append(recs, recs[1]) // a redelivered copy of b inside the same fetch
	produce(t, brokers, recs...)

	stalled := make(chan struct{}, 1)
	c1 := newConsumer(t, events.ConsumerConfig{Brokers: brokers, Group: group, Topics: []string{topic}, Pool: pool, Logger: log})
	events.On(c1, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *wrapperspb.StringValue) error {
		if err := writeEffect(ctx, tx, ev, msg); err != nil {
			return err
		}
		if msg.GetValue() == "stall" { // the process dies while handling this one
			stalled <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	})
	stop1 := waittest.Go(t, c1.Run)
	select {
	case <-stalled:
	case <-time.After(wait):
		t.Fatal("the consumer never reached the stalling record")
	}
	stop1()
	if got := effects(t, pool); len(got) != 0 {
		t.Fatalf("effects %v kept from an unfinished batch, want none", got)
	}
	offs, err := admin(t, brokers).FetchOffsets(ctx, group)
	must(t, err)
	if committed, ok := offs.Lookup(topic, 0); ok && committed.At > 0 {
		t.Fatalf("committed offset %d after an unfinished batch, want none", committed.At)
	}

	var calls sync.Map
	c2 := newConsumer(t, events.ConsumerConfig{Brokers: brokers, Group: group, Topics: []string{topic}, Pool: pool, Logger: log,
		RetryBackoff: time.Millisecond, MaxAttempts: 2})
	events.On(c2, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *wrapperspb.StringValue) error {
		n, _ := calls.LoadOrStore(msg.GetValue(), new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		if msg.GetValue() == "stall" {
			return events.Permanent(errors.New("poison"))
		}
		return writeEffect(ctx, tx, ev, msg)
	})
	waittest.Go(t, c2.Run)
	dlq := events.DeadLetterTopic(topic, group)
	eventually(t, "the poison record dead-lettered", func() bool { return endOffsets(t, brokers, dlq) == 1 })
	eventually(t, "the effects around it", func() bool { return len(effects(t, pool)) == 3 })
	if got := effects(t, pool); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("effects %v, want [a b c], once each", got)
	}
	if n := endOffsets(t, brokers, dlq); n != 1 {
		t.Fatalf("dead-letter topic holds %d records, want 1", n)
	}
}

// A consumer without a database runs AfterBatch after each batch of handled records and before
// marking them: what the handlers gathered is sent in one go, in record order, once.
func TestAfterBatchSendsWhatTheHandlersGathered(t *testing.T) {
	ctx := context.Background()
	_, brokers := kafkatest.New(t)
	log, _ := testLogger(t)
	const topic = "afterbatch.t"
	createTopics(ctx, t, brokers, topic)
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, ceRecord(topic, "k", wrapperspb.String(strconv.Itoa(i))))
	}
	produce(t, brokers, recs...)

	var mu sync.Mutex
	var pending, sent []string
	batches := 0
	c := newConsumer(t, events.ConsumerConfig{Brokers: brokers, Group: "g", Topics: []string{topic}, Logger: log, BatchSize: 4})
	c.AfterBatch(func(context.Context) {
		mu.Lock()
		defer mu.Unlock()
		if len(pending) > 0 {
			batches++
		}
		sent = append(sent, pending...)
		pending = nil
	})
	events.On(c, func(_ context.Context, tx pgx.Tx, _ events.Event, msg *wrapperspb.StringValue) error {
		if tx != nil {
			t.Error("a consumer without a database got a transaction")
		}
		mu.Lock()
		defer mu.Unlock()
		pending = append(pending, msg.GetValue())
		return nil
	})
	waittest.Go(t, c.Run)
	eventually(t, "every record sent", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(sent) == 10
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(sent, seq(0, 10)) || len(pending) != 0 {
		t.Fatalf("sent %v (pending %v), want 0..9 in order, once", sent, pending)
	}
	if batches < 3 {
		t.Fatalf("%d batches sent 10 records with BatchSize 4; want at least 3", batches)
	}
}

// A handler can keep work in the transaction's scope across the events of a batch and do it
// before the commit, once: here each event's value waits in the scope, and one insert per
// transaction writes them all. A poison event rolls the batch back, scope and all; one at a time,
// the others still get their effect, once.
func TestScopeCarriesWorkAcrossABatchToItsCommit(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	_, brokers := kafkatest.New(t)
	log, _ := testLogger(t)
	const topic, group = "scope.t", "g"
	createTopics(ctx, t, brokers, topic)
	var recs []*kgo.Record
	for _, v := range []string{"a", "b", "poison", "c"} {
		recs = append(recs, ceRecord(topic, "k", wrapperspb.String(v)))
	}
	produce(t, brokers, recs...)

	type pending struct{ vals []string }
	var mu sync.Mutex
	var flushes []int // how many values each before-commit wrote
	c := newConsumer(t, events.ConsumerConfig{Brokers: brokers, Group: group, Topics: []string{topic}, Pool: pool, Logger: log,
		RetryBackoff: time.Millisecond, MaxAttempts: 1})
	events.On(c, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *wrapperspb.StringValue) error {
		if msg.GetValue() == "poison" {
			return events.Permanent(errors.New("poison"))
		}
		s := events.ScopeOf(ctx)
		if s == nil {
			return errors.New("no scope in a consumer transaction")
		}
		p, _ := s.Value("pending").(*pending)
		if p == nil {
			p = &pending{}
			s.SetValue("pending", p)
			s.BeforeCommit(func(ctx context.Context) error {
				for _, v := range p.vals {
					if _, err := tx.Exec(ctx, `INSERT INTO effects (event_id, value) VALUES (gen_random_uuid(), $1)`, v); err != nil {
						return err
					}
				}
				mu.Lock()
				flushes = append(flushes, len(p.vals))
				mu.Unlock()
				return nil
			})
		}
		p.vals = append(p.vals, msg.GetValue())
		return nil
	})
	waittest.Go(t, c.Run)
	eventually(t, "the effects", func() bool { return len(effects(t, pool)) == 3 })
	if got := effects(t, pool); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("effects %v, want [a b c] once each", got)
	}
	if n := endOffsets(t, brokers, events.DeadLetterTopic(topic, group)); n != 1 {
		t.Fatalf("%d dead letters, want the poison one", n)
	}
	if events.ScopeOf(ctx) != nil {
		t.Fatal("a scope outside a consumer transaction")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(flushes) == 0 {
		t.Fatal("no before-commit ran")
	}
}

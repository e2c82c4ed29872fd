package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/kafkatest"
)

// The command against the in-process broker: -list prints and copies nothing; a replay prints
// and copies each dead letter once, without its dlq_* headers; a second run finds nothing new.
func TestReplayCommand(t *testing.T) {
	_, brokers := kafkatest.New(t)
	t.Setenv("KAFKA_BROKERS", strings.Join(brokers, ","))
	const topic, group = "parley.auth.v1", "profile"
	dlq := events.DeadLetterTopic(topic, group)
	ids := []string{uuid.NewString(), uuid.NewString()}
	var recs []*kgo.Record
	for i, id := range ids {
		recs = append(recs, &kgo.Record{Topic: dlq, Key: []byte("user-" + id), Value: []byte{byte(i)}, Headers: []kgo.RecordHeader{
			{Key: events.HeaderID, Value: []byte(id)},
			{Key: events.HeaderType, Value: []byte("parley.events.v1.UserRegistered")},
			{Key: events.HeaderDLQError, Value: []byte("insert profile: boom")},
			{Key: events.HeaderDLQGroup, Value: []byte(group)},
			{Key: events.HeaderDLQAttempts, Value: []byte("5")},
			{Key: events.HeaderDLQTopic, Value: []byte(topic)},
			{Key: events.HeaderDLQPartition, Value: []byte("3")},
			{Key: events.HeaderDLQOffset, Value: []byte("4" + string(rune('0'+i)))},
			{Key: events.HeaderDLQTime, Value: []byte("2026-12-03T07:00:00Z")},
		}})
	}
	produce(t, brokers, recs...)

	out := runOK(t, "-topic", topic, "-group", group, "-list")
	for i, id := range ids {
		want := dlq + "/0@" + string(rune('0'+i)) + " event_id=" + id + " type=parley.events.v1.UserRegistered key=\"user-" + id +
			"\" from=parley.auth.v1/3@4" + string(rune('0'+i)) + " at=2026-12-03T07:00:00Z attempts=5 error=\"insert profile: boom\"\n"
		if !strings.Contains(out, want) {
			t.Errorf("-list printed\n%s\nwant a line\n%s", out, want)
		}
	}
	if n := strings.Count(out, "\n"); n != 2 {
		t.Errorf("-list printed %d lines, want 2:\n%s", n, out)
	}

	out = runOK(t, "-topic", topic, "-group", group)
	if n := strings.Count(out, "\n"); n != 2 {
		t.Errorf("the replay printed %d lines, want 2:\n%s", n, out)
	}
	replayed := kafkatest.Read(t, brokers, events.ReplayTopic(topic, group), 2)
	for i, r := range replayed {
		if string(r.Key) != "user-"+ids[i] || !bytes.Equal(r.Value, []byte{byte(i)}) {
			t.Errorf("replayed record %d: key %q value %v", i, r.Key, r.Value)
		}
		var keys []string
		for _, h := range r.Headers {
			keys = append(keys, h.Key)
		}
		if strings.Join(keys, ",") != events.HeaderID+","+events.HeaderType {
			t.Errorf("replayed record %d has headers %v, want the original ones only", i, keys)
		}
	}

	if out := runOK(t, "-topic", topic, "-group", group); out != "" {
		t.Errorf("a second replay printed %q, want nothing: all was replayed", out)
	}
	if n := endOffset(t, brokers, events.ReplayTopic(topic, group)); n != 2 {
		t.Errorf("%d records in the replay topic after a second run, want 2", n)
	}
}

func TestReplayCommandRefusesBadArguments(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "127.0.0.1:1")
	for _, args := range [][]string{{}, {"-topic", "t"}, {"-group", "g"}, {"-topic", "t", "-group", "g", "extra"}, {"-nope"}} {
		err := run(context.Background(), slog.New(slog.DiscardHandler), args, new(bytes.Buffer))
		if err == nil || !strings.Contains(err.Error(), "usage: dlq-replay -topic <topic> -group <consumer group> [-list]") {
			t.Errorf("%q: err %v, want the usage", args, err)
		}
	}
	t.Setenv("KAFKA_BROKERS", ",")
	err := run(context.Background(), slog.New(slog.DiscardHandler), []string{"-topic", "t", "-group", "g"}, new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "KAFKA_BROKERS: at least one broker address is required") {
		t.Errorf("no brokers: err %v", err)
	}
}

// The command reaches a broker that requires SASL with the credentials of the KAFKA_SASL_…
// variables (kafkaconn.Options), and fails, rather than replaying, with a wrong password.
func TestReplayCommandAuthenticates(t *testing.T) {
	_, brokers := kafkatest.New(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "ops", "replay-s3cret"),
		kfake.SeedTopics(1, events.DeadLetterTopic("parley.auth.v1", "profile")))
	t.Setenv("KAFKA_BROKERS", strings.Join(brokers, ","))
	t.Setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
	t.Setenv("KAFKA_SASL_USERNAME", "ops")
	t.Setenv("KAFKA_SASL_PASSWORD", "replay-s3cret")
	t.Setenv("KAFKA_SASL_ALLOW_PLAINTEXT", "true") // kfake here listens in plain text; kafkaconn's tests cover TLS
	if out := runOK(t, "-topic", "parley.auth.v1", "-group", "profile", "-list"); out != "" {
		t.Fatalf("-list on no dead letters printed %q", out)
	}

	t.Setenv("KAFKA_SASL_PASSWORD", "wrong")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, slog.New(slog.DiscardHandler), []string{"-topic", "parley.auth.v1", "-group", "profile", "-list"}, new(bytes.Buffer))
	if err == nil {
		t.Fatal("a wrong password was accepted")
	}
}

func runOK(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, slog.New(slog.NewTextHandler(testWriter{t}, nil)), args, &out); err != nil {
		t.Fatalf("dlq-replay %v: %v", args, err)
	}
	return out.String()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// produce writes recs to their topic, created first with one partition as consumers create
// dead-letter topics.
func produce(t *testing.T, brokers []string, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := events.CreateMissingTopics(context.Background(), cl, 1, recs[0].Topic); err != nil {
		t.Fatal(err)
	}
	kafkatest.Produce(t, cl, recs...)
}

// endOffset sums topic's end offsets: how many records were ever written to it.
func endOffset(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	var sum int64
	offs.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	return sum
}

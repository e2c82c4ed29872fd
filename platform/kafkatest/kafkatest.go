// Package kafkatest runs an in-process Kafka-protocol broker (franz-go's kfake) for tests, and
// produces and reads raw records on it.
package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// New starts a single-broker cluster that creates topics on first use, stopped when the test ends,
// and returns it with its seed addresses.
func New(t testing.TB, opts ...kfake.Opt) (*kfake.Cluster, []string) {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3)}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kafkatest: start broker: %v", err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()
}

// wait bounds producing and reading.
const wait = 30 * time.Second

// Producer returns a client of brokers that creates topics on first use, closed when the test
// ends.
func Producer(t testing.TB, brokers []string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatalf("kafkatest: producer: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Produce writes recs through cl and waits until they are acknowledged, failing the test if
// any is not within 30 s.
func Produce(t testing.TB, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("kafkatest: produce: %v", err)
	}
}

// Read returns the first n records of topic (every partition, from the start, without a group),
// failing the test if fewer arrive within 30 s. More may be returned when they arrive together.
func Read(t testing.TB, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatalf("kafkatest: reader: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("kafkatest: read %s: got %d records, want %d", topic, len(recs), n)
		}
		recs = append(recs, fs.Records()...)
	}
	return recs
}

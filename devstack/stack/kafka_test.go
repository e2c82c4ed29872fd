package stack

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/config"
	"github.com/parleyhq/parley/platform/kafkaconn"
)

// TestEmbeddedKafkaKeepsRecordsAndOffsetsAcrossARestart produces a record and commits a consumer
// group's offset, restarts the broker on the same data directory, and finds both again.
func TestEmbeddedKafkaKeepsRecordsAndOffsetsAcrossARestart(t *testing.T) {
	ctx := ctxTimeout(t, time.Minute)
	out := output(t)
	dir := filepath.Join(t.TempDir(), "kafka")
	base, err := FreePortBase()
	if err != nil {
		t.Fatal(err)
	}
	port := base + offKafka
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	w := NewConsole(out, false, 5).Writer("kafka")

	c, err := startKafka(dir, port, w)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range topics.All {
		if c.TopicInfo(topic) == nil {
			t.Errorf("topic %s was not created", topic)
		}
	}
	cl := client(t, addr)
	res := cl.ProduceSync(ctx, &kgo.Record{Topic: topics.Auth, Key: []byte("user-1"), Value: []byte("UserRegistered")})
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	rec := res[0].Record
	adm := kadm.NewClient(cl)
	var offsets kadm.Offsets
	offsets.Add(kadm.Offset{Topic: topics.Auth, Partition: rec.Partition, At: rec.Offset + 1, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "profile", offsets); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	c.Close()

	c, err = startKafka(dir, port, w)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl = client(t, addr, kgo.ConsumeTopics(topics.Auth), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var found *kgo.Record
	for found == nil {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatal("the record produced before the restart is gone")
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if string(r.Key) == "user-1" {
				found = r
			}
		})
	}
	if string(found.Value) != "UserRegistered" || found.Partition != rec.Partition || found.Offset != rec.Offset {
		t.Errorf("after the restart: %s/%d@%d %q, want %s/%d@%d", found.Topic, found.Partition, found.Offset, found.Value, rec.Topic, rec.Partition, rec.Offset)
	}
	committed, err := kadm.NewClient(cl).FetchOffsets(ctx, "profile")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := committed.Lookup(topics.Auth, rec.Partition); !ok || o.At != rec.Offset+1 {
		t.Errorf("committed offset after the restart = %+v (found %v), want %d", o, ok, rec.Offset+1)
	}

	// Topics of a newer contracts/topics appear on an old data directory too.
	got, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := got.Names()
	for _, topic := range topics.All {
		if !slices.Contains(names, topic) {
			t.Errorf("topic %s missing after restart", topic)
		}
	}
}

func client(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestEnsureTopicsOnAnExternalBroker creates the topics on a broker the stack did not start.
func TestEnsureTopicsOnAnExternalBroker(t *testing.T) {
	ctx := ctxTimeout(t, time.Minute)
	base, err := FreePortBase()
	if err != nil {
		t.Fatal(err)
	}
	c, err := kfakeBare(base + offKafka)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := fmt.Sprintf("127.0.0.1:%d", base+offKafka)
	for range 2 { // the second time, every topic exists already
		if err := ensureTopics(ctx, []string{addr}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, topic := range topics.All {
		if c.TopicInfo(topic) == nil {
			t.Errorf("topic %s not created", topic)
		}
	}
}

// TestEnsureTopicsAuthenticates creates the topics on an external broker that requires SASL, with
// the Kafka variables the services inherit (read by startKafka through kafkaconn.Options).
func TestEnsureTopicsAuthenticates(t *testing.T) {
	ctx := ctxTimeout(t, time.Minute)
	c, err := kfake.NewCluster(kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "dev", "dev-s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k, err := config.LoadFrom[config.Kafka]([]string{"KAFKA_SASL_MECHANISM=SCRAM-SHA-512", "KAFKA_SASL_USERNAME=dev",
		"KAFKA_SASL_PASSWORD=dev-s3cret", "KAFKA_SASL_ALLOW_PLAINTEXT=true"})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := kafkaconn.Options(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := ensureTopics(ctx, c.ListenAddrs(), opts); err != nil {
		t.Fatal(err)
	}
	for _, topic := range topics.All {
		if c.TopicInfo(topic) == nil {
			t.Errorf("topic %s not created", topic)
		}
	}
}

// kfakeBare is a broker without Parley's topics, standing in for one a developer runs.
func kfakeBare(port int) (*kfake.Cluster, error) {
	return kfake.NewCluster(kfake.Ports(port))
}

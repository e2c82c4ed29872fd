// Package kafkatest runs an in-process Kafka-protocol broker (franz-go's kfake) for tests.
package kafkatest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
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

package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/parleyhq/parley/platform/defaults"
)

// DefaultPartitions is the partition count of topics this package creates: enough for a few
// consumer replicas to share the work, few enough for a single development broker.
const DefaultPartitions = 6

// CreateMissingTopics creates those of topics that do not exist yet with partitions partitions
// (DefaultPartitions when zero or less) and the broker's default replication factor. It lists
// topics first and creates only what is missing, so it also works where the client may describe
// but not create topics, as long as they exist; a topic created concurrently by someone else is
// not an error.
//
// Services do not call it themselves: a Relay calls it before its first publish to a topic, and a
// Consumer for its topics, dead-letter topics and replay topics when it starts, so the order in
// which services start does not matter and brokers need no auto-creation.
func CreateMissingTopics(ctx context.Context, client *kgo.Client, partitions int32, topics ...string) error {
	if len(topics) == 0 {
		return nil
	}
	partitions = defaults.Positive(partitions, DefaultPartitions)
	adm := kadm.NewClient(client)
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	var missing []string
	for _, t := range topics {
		if d, ok := details[t]; !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			missing = append(missing, t)
		} else if d.Err != nil {
			return fmt.Errorf("describe topic %s: %w", t, d.Err)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	missing = slices.Compact(missing)
	resps, err := adm.CreateTopics(ctx, partitions, -1, nil, missing...)
	if err != nil {
		return fmt.Errorf("create topics %v: %w", missing, err)
	}
	for _, r := range resps.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w (%s)", r.Topic, r.Err, r.ErrMessage)
		}
	}
	return nil
}

// DeadLetterTopic is where a consumer group puts the records of topic it could not handle:
// "<topic>.dlq.<group>". One per group, because a record is poison for a handler, not for the
// topic: other groups handled it, and replaying a dead-letter topic must reach only the group
// that failed.
func DeadLetterTopic(topic, group string) string { return topic + ".dlq." + group }

// kgoLogger sends franz-go's warnings and errors to slog; its info and debug logs are per-request
// chatter.
type kgoLogger struct{ l *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelDebug
	switch level {
	case kgo.LogLevelError:
		lvl = slog.LevelError
	case kgo.LogLevelWarn:
		lvl = slog.LevelWarn
	case kgo.LogLevelInfo:
		lvl = slog.LevelInfo
	}
	k.l.Log(context.Background(), lvl, "kafka: "+msg, keyvals...)
}

package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ReplayTopic is where a dead-lettered record of topic is put back for group alone:
// "<topic>.replay.<group>". Every Consumer consumes the replay topics of its topics beside the
// topics themselves, with the same handlers and inbox, so a replayed record reaches the group that
// gave up on it and no other (the others handled it the first time).
func ReplayTopic(topic, group string) string { return topic + replayInfix + group }

const replayInfix = ".replay."

// replayGroup is the consumer group whose committed offsets on a dead-letter topic record how far
// ReplayDeadLetters has copied it. Nothing consumes as this group; only its offsets are used.
func replayGroup(dlq string) string { return "dlq-replay." + dlq }

// ReplayConfig says which dead letters ReplayDeadLetters replays.
type ReplayConfig struct {
	Brokers []string
	Topic   string // the topic the records came from, e.g. "parley.auth.v1"
	Group   string // the consumer group that dead-lettered them, e.g. "profile"
	// List reports the dead letters a replay would copy and copies nothing.
	List       bool
	Logger     *slog.Logger
	ClientOpts []kgo.Opt // kafkaconn.Options: TLS, SASL
}

// DeadLetter is one record of a dead-letter topic, as ReplayDeadLetters reports it.
type DeadLetter struct {
	Partition int32 // in the dead-letter topic
	Offset    int64
	EventID   string // ce_id
	EventType string // ce_type
	Key       string
	Error     string // dlq_error: the handler's last error
	Attempts  string // dlq_attempts
	From      string // dlq_topic/dlq_partition@dlq_offset: where it was consumed
	At        string // dlq_time: when it was dead-lettered
}

// ReplayDeadLetters copies the records of DeadLetterTopic(Topic, Group) that no earlier replay
// copied to ReplayTopic(Topic, Group) — key, value and original headers, without the dlq_* ones —
// and returns how many it copied. It calls report, when not nil, for each one. It reads up to the
// end of the dead-letter topic as it was when it started, and commits how far it got as the
// offsets of a consumer group of its own ("dlq-replay.<dead-letter topic>") after each batch, so
// a second run copies only what was dead-lettered since. A run stopped between a copy and its
// commit copies those records again: the group's inbox drops the second copy of an event it has
// already applied (a group without a database handles it twice).
func ReplayDeadLetters(ctx context.Context, cfg ReplayConfig, report func(DeadLetter)) (int, error) {
	if len(cfg.Brokers) == 0 || cfg.Topic == "" || cfg.Group == "" || cfg.Logger == nil {
		return 0, errors.New("replay dead letters: brokers, topic, group and logger are required")
	}
	dlq, target := DeadLetterTopic(cfg.Topic, cfg.Group), ReplayTopic(cfg.Topic, cfg.Group)
	log := cfg.Logger.With("dlq_topic", dlq)
	opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.WithLogger(kgoLogger{log})}, cfg.ClientOpts...)
	admClient, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, fmt.Errorf("new kafka client: %w", err)
	}
	defer admClient.Close()
	adm := kadm.NewClient(admClient)

	from, end, err := replayRange(ctx, adm, dlq)
	if err != nil {
		return 0, err
	}
	if len(from) == 0 {
		log.Info("no dead letters to replay")
		return 0, nil
	}
	if !cfg.List {
		if err := CreateMissingTopics(ctx, admClient, 1, target); err != nil {
			return 0, err
		}
	}

	start := map[int32]kgo.Offset{}
	for p, o := range from {
		start[p] = kgo.NewOffset().At(o)
	}
	client, err := kgo.NewClient(append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{dlq: start}),
		kgo.RecordDeliveryTimeout(30*time.Second))...)
	if err != nil {
		return 0, fmt.Errorf("new kafka client: %w", err)
	}
	defer client.Close()

	copied := 0
	for len(from) > 0 {
		fetches := client.PollFetches(ctx)
		if ctx.Err() != nil {
			return copied, ctx.Err()
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			return copied, fmt.Errorf("read %s: %w", dlq, errs[0].Err)
		}
		out, done := replayFetched(fetches, from, end, target, report)
		if cfg.List || len(out) == 0 {
			copied += len(out)
			continue
		}
		if err := client.ProduceSync(ctx, out...).FirstErr(); err != nil {
			return copied, fmt.Errorf("write to %s: %w", target, err)
		}
		copied += len(out)
		resp, err := adm.CommitOffsets(ctx, replayGroup(dlq), done)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return copied, fmt.Errorf("record the replay's progress (group %s): %w", replayGroup(dlq), err)
		}
	}
	if cfg.List {
		log.Info("dead letters not replayed yet", "count", copied)
	} else {
		log.Info("dead letters replayed", "count", copied, "to", target)
	}
	return copied, nil
}

// replayFetched turns the fetched dead letters below each partition's end into records for target
// (reporting each), with the offsets that record the replay's progress; a partition whose end it
// reaches is deleted from from, the partitions still open.
func replayFetched(fetches kgo.Fetches, from, end map[int32]int64, target string, report func(DeadLetter)) ([]*kgo.Record, kadm.Offsets) {
	var out []*kgo.Record
	done := kadm.Offsets{}
	fetches.EachRecord(func(rec *kgo.Record) {
		if _, open := from[rec.Partition]; !open || rec.Offset >= end[rec.Partition] {
			return // past the end this run replays
		}
		if report != nil {
			report(deadLetter(rec))
		}
		out = append(out, &kgo.Record{Topic: target, Key: rec.Key, Value: rec.Value, Headers: withoutDLQHeaders(rec.Headers)})
		done.Add(kadm.Offset{Topic: rec.Topic, Partition: rec.Partition, At: rec.Offset + 1, LeaderEpoch: -1})
		if rec.Offset+1 >= end[rec.Partition] {
			delete(from, rec.Partition)
		}
	})
	return out, done
}

// replayRange returns, per partition of the dead-letter topic that has records no replay copied,
// the first such offset and the end offset (exclusive) to copy up to.
func replayRange(ctx context.Context, adm *kadm.Client, dlq string) (from, end map[int32]int64, err error) {
	ends, err := adm.ListEndOffsets(ctx, dlq)
	if err != nil {
		return nil, nil, fmt.Errorf("list end offsets of %s: %w", dlq, err)
	}
	if err := ends.Error(); err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return nil, nil, fmt.Errorf("no topic %s: is the topic and group right? (dead-letter topics are \"<topic>.dlq.<group>\")", dlq)
		}
		return nil, nil, fmt.Errorf("list end offsets of %s: %w", dlq, err)
	}
	starts, err := adm.ListStartOffsets(ctx, dlq)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list start offsets of %s: %w", dlq, err)
	}
	committed, err := adm.FetchOffsets(ctx, replayGroup(dlq))
	if err == nil {
		err = committed.Error()
	}
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return nil, nil, fmt.Errorf("read the replay's progress (group %s): %w", replayGroup(dlq), err)
	}
	from, end = map[int32]int64{}, map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		first := int64(0)
		if s, ok := starts.Lookup(dlq, o.Partition); ok {
			first = s.Offset // older records are gone with the topic's retention
		}
		if c, ok := committed.Lookup(dlq, o.Partition); ok && c.At > first {
			first = c.At
		}
		if first < o.Offset {
			from[o.Partition], end[o.Partition] = first, o.Offset
		}
	})
	return from, end, nil
}

func deadLetter(rec *kgo.Record) DeadLetter {
	h := func(k string) string { return headerValue(rec, k) }
	return DeadLetter{
		Partition: rec.Partition, Offset: rec.Offset,
		EventID: h(HeaderID), EventType: h(HeaderType), Key: string(rec.Key),
		Error: h(HeaderDLQError), Attempts: h(HeaderDLQAttempts), At: h(HeaderDLQTime),
		From: h(HeaderDLQTopic) + "/" + h(HeaderDLQPartition) + "@" + h(HeaderDLQOffset),
	}
}

// withoutDLQHeaders returns the record's original headers: a replayed record that fails again is
// dead-lettered with fresh dlq_* headers, not a second set.
func withoutDLQHeaders(hs []kgo.RecordHeader) []kgo.RecordHeader {
	return slices.DeleteFunc(slices.Clone(hs), func(h kgo.RecordHeader) bool { return strings.HasPrefix(h.Key, "dlq_") })
}

// originTopic is the topic a record of topic came from: itself, or for a replay topic of group
// the topic it replays, so that a replayed record that fails again goes back to the same
// dead-letter topic.
func originTopic(topic, group string) string {
	if t, ok := strings.CutSuffix(topic, replayInfix+group); ok {
		return t
	}
	return topic
}

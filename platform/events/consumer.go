package events

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/parleyhq/parley/platform/backoff"
	"github.com/parleyhq/parley/platform/defaults"
	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/platform/telemetry"
	"github.com/parleyhq/parley/platform/validate"
)

// Headers added to a record when it is put on a dead-letter topic, next to all its original ones.
const (
	HeaderDLQError     = "dlq_error"     // the last error
	HeaderDLQGroup     = "dlq_group"     // the consumer group that gave up
	HeaderDLQAttempts  = "dlq_attempts"  // handler attempts made; 0 for a malformed record
	HeaderDLQTopic     = "dlq_topic"     // where the record came from
	HeaderDLQPartition = "dlq_partition" //
	HeaderDLQOffset    = "dlq_offset"    //
	HeaderDLQTime      = "dlq_time"      // when it was dead-lettered, RFC 3339
)

// Event is one record as a handler sees it.
type Event struct {
	ID     string // ce_id, a UUID: the deduplication key
	Type   string // ce_type, the payload's protobuf full name
	Source string // ce_source, the publishing service
	Topic  string
	Key    string
	Time   time.Time // ce_time: when the event was published into the outbox
	// Payload is the protobuf-encoded message; On decodes it for you.
	Payload []byte
	// Headers holds every record header, CloudEvents ones included: trace context arrives here.
	Headers   map[string]string
	Partition int32
	Offset    int64
}

// TimeOr is when the payload says something happened (at, a timestamp field of it) or, when the
// field is unset, when the event was published (Time): never the zero time of a missing field.
func (e Event) TimeOr(at *timestamppb.Timestamp) time.Time {
	if at == nil {
		return e.Time
	}
	return at.AsTime()
}

// UUID returns value, an id the payload carries in field, as validate.UUID checks and lower-cases
// it. A malformed id fails as a Permanent error naming the event and the field: retrying cannot
// make it valid.
func (e Event) UUID(field, value string) (string, error) {
	id, err := validate.UUID(field, value)
	if err != nil {
		return "", Permanent(fmt.Errorf("%s %s: %w", e.Type, e.ID, err))
	}
	return id, nil
}

// Handler applies one event. tx is the transaction that also records the event in the inbox: do
// the effect in tx and it happens exactly once however often the event is delivered. Do not
// commit or roll back tx. Returning an error rolls tx back and retries the event; see
// ConsumerConfig.MaxAttempts, Permanent and Transient. Without a Pool, tx is nil (see ConsumerConfig.Pool).
type Handler func(ctx context.Context, tx pgx.Tx, ev Event) error

// ConsumerConfig configures a Consumer. Brokers, Group, Topics and Logger are required.
type ConsumerConfig struct {
	Brokers []string
	// Group is the Kafka consumer group, conventionally "<service>" or "<service>.<purpose>". It
	// also scopes the inbox and names the dead-letter topics.
	Group  string
	Topics []string
	// Pool is the database where effects and the inbox live. Nil means the handlers have no
	// database (a gateway pushing to WebSockets): tx is nil and there is no inbox, so a
	// redelivered event is handled again (at least once); such handlers must tolerate repeats.
	Pool   *pgxpool.Pool
	Logger *slog.Logger

	// MaxAttempts is how often a handler is tried on one event before the event goes to the
	// dead-letter topic. Default 5.
	MaxAttempts int
	// RetryBackoff is the wait after the first failure, doubled after each further one. Default 200ms.
	RetryBackoff time.Duration
	// MaxBackoff caps those waits, and the waits while the database or the dead-letter topic is
	// unreachable or a handler reports a Transient error (retried without limit: an outage is not
	// the event's fault). Default 10s.
	MaxBackoff time.Duration
	// InboxRetention is how long inbox rows of this group are kept. It must exceed the longest
	// time a record can be redelivered (Kafka's retention). Default 30 days; negative keeps them.
	InboxRetention time.Duration
	// Partitions is the partition count of Topics the consumer creates if missing. Default
	// DefaultPartitions. Dead-letter and replay topics get one partition: they are small and read
	// rarely.
	Partitions int32
	// BatchSize is the most records handled in one database transaction: one inbox insert and one
	// commit for all of them instead of one each, which under load is most of a small handler's
	// cost. When any handler of a batch fails, the batch is rolled back and its records are handled
	// one at a time, with the usual retries and dead-lettering, so a poison record costs only a
	// retry of its neighbours. Default 32; 1 handles every record in a transaction of its own.
	// Without a Pool, records are handled one at a time and BatchSize is how many are handled
	// before the AfterBatch function runs and their offsets are marked.
	BatchSize int
	// FetchMaxWait lets the broker hold a fetch up to this long until FetchMinBytes of records
	// have gathered, so that at moderate rates one fetch (and one batch) carries many records
	// instead of each record costing a fetch, a transaction and a commit of its own. It is the
	// most latency it adds; at least MinFetchMaxWait. Zero: a fetch returns as soon as there is
	// anything.
	FetchMaxWait  time.Duration
	FetchMinBytes int32
	// ClientOpts are extra franz-go options, applied after the consumer's own: a service passes
	// kafkaconn.Options (TLS, SASL from the KAFKA_* variables).
	ClientOpts []kgo.Opt
	// Telemetry, when set, gets the group's metrics (events applied, retries, dead-lettered, and
	// at each scrape its lag) and, with tracing on, a span per event applied that continues the
	// trace the record carries (see trace.go).
	Telemetry *telemetry.Telemetry
}

// Consumer runs a consumer group and hands each record to the handler for its ce_type.
//
// Records are handled one at a time, in partition order. A record's offset is committed only after
// it is handled, skipped or dead-lettered (marked, then committed every few seconds and when
// partitions are revoked or the consumer stops), so a crash redelivers what was not finished, and
// the inbox makes that redelivery harmless. A record that keeps failing is moved to a dead-letter
// topic (DeadLetterTopic) so that the records behind it keep flowing — unless its handler says the
// failure is Transient, which is retried until it succeeds.
type Consumer struct {
	cfg        ConsumerConfig
	log        *slog.Logger
	handlers   map[string]Handler
	afterBatch func(ctx context.Context)
	started    atomic.Bool
	client     atomic.Pointer[kgo.Client] // while Run runs: what the lag is asked through
}

// MinFetchMaxWait is the least ConsumerConfig.FetchMaxWait other than zero: franz-go's floor.
const MinFetchMaxWait = 10 * time.Millisecond

// CheckFetchMaxWait refuses a FetchMaxWait the consumer cannot honour, in words a variable's
// error can follow: other than zero, under MinFetchMaxWait.
func CheckFetchMaxWait(d time.Duration) error {
	if d != 0 && d < MinFetchMaxWait {
		return fmt.Errorf("must be 0 (no wait) or at least %v", MinFetchMaxWait)
	}
	return nil
}

// NewConsumer checks cfg and fills in defaults. Register handlers, then Run.
func NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	switch {
	case len(cfg.Brokers) == 0:
		return nil, errors.New("new consumer: no kafka brokers")
	case cfg.Group == "":
		return nil, errors.New("new consumer: no group")
	case len(cfg.Topics) == 0:
		return nil, errors.New("new consumer: no topics")
	case cfg.Logger == nil:
		return nil, errors.New("new consumer: no logger")
	}
	if err := CheckFetchMaxWait(cfg.FetchMaxWait); err != nil {
		return nil, fmt.Errorf("new consumer: fetch max wait %v: %w", cfg.FetchMaxWait, err)
	}
	cfg.MaxAttempts = defaults.Positive(cfg.MaxAttempts, 5)
	cfg.RetryBackoff = defaults.Positive(cfg.RetryBackoff, 200*time.Millisecond)
	cfg.MaxBackoff = defaults.Positive(cfg.MaxBackoff, 10*time.Second)
	cfg.InboxRetention = cmp.Or(cfg.InboxRetention, 30*24*time.Hour) // negative keeps the rows
	cfg.Partitions = defaults.Positive(cfg.Partitions, DefaultPartitions)
	cfg.BatchSize = defaults.Positive(cfg.BatchSize, 32)
	c := &Consumer{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "event-consumer", "group", cfg.Group),
		handlers: map[string]Handler{},
	}
	cfg.Telemetry.Watch(telemetry.MetricConsumerLag, "Records of a topic not yet committed by a consumer group (from the broker: every replica reports the whole group's).",
		false, []string{"group", "topic"}, c.lag)
	return c, nil
}

// lag asks the broker how far the group's committed offsets are behind the ends of its topics'
// partitions, per topic. While the consumer is not running it reports nothing.
func (c *Consumer) lag(ctx context.Context) ([]telemetry.Sample, error) {
	client := c.client.Load()
	if client == nil {
		return nil, nil
	}
	lags, err := kadm.NewClient(client).Lag(ctx, c.cfg.Group)
	if err != nil {
		return nil, fmt.Errorf("consumer lag of %s: %w", c.cfg.Group, err)
	}
	l, ok := lags[c.cfg.Group]
	if !ok {
		return nil, nil
	}
	if err := l.Error(); err != nil {
		return nil, fmt.Errorf("consumer lag of %s: %w", c.cfg.Group, err)
	}
	byTopic := l.Lag.TotalByTopic()
	samples := make([]telemetry.Sample, 0, len(c.cfg.Topics))
	for _, topic := range c.cfg.Topics {
		samples = append(samples, telemetry.Sample{Value: float64(max(byTopic[topic].Lag, 0)), Labels: []string{c.cfg.Group, topic}})
	}
	return samples, nil
}

// Handle registers h for events of type ceType. Events of types without a handler are skipped
// (logged at debug): a topic carries several types and a group cares about some. Register before
// Run; registering twice for a type is a programming error and panics, as does registering late.
func (c *Consumer) Handle(ceType string, h Handler) {
	switch {
	case c.started.Load():
		panic("events: Handle called after Run")
	case ceType == "" || h == nil:
		panic("events: Handle needs a type and a handler")
	case c.handlers[ceType] != nil:
		panic("events: second handler for " + ceType)
	}
	c.handlers[ceType] = h
}

// AfterBatch registers fn to run, in a consumer without a Pool, after each batch of records has
// been handled and before they are marked done: handlers may gather their work and fn send it in
// one go (the gateway's fan-out publishes a batch's frames in one Redis round trip). A stop
// between the handlers and fn marks nothing, so the batch is delivered again. Register before Run.
func (c *Consumer) AfterBatch(fn func(ctx context.Context)) {
	if c.started.Load() {
		panic("events: AfterBatch called after Run")
	}
	c.afterBatch = fn
}

// On registers h for events whose payload is a T, by T's protobuf full name, and decodes the
// payload for it. A payload that does not decode is dead-lettered at once: retrying cannot help.
func On[T proto.Message](c *Consumer, h func(ctx context.Context, tx pgx.Tx, ev Event, msg T) error) {
	var zero T
	mt := zero.ProtoReflect().Type()
	name := string(mt.Descriptor().FullName())
	c.Handle(name, func(ctx context.Context, tx pgx.Tx, ev Event) error {
		msg, ok := mt.New().Interface().(T)
		if !ok {
			return Permanent(fmt.Errorf("new %s: unexpected type %T", name, mt.New().Interface()))
		}
		if err := proto.Unmarshal(ev.Payload, msg); err != nil {
			return Permanent(fmt.Errorf("decode %s payload: %w", name, err))
		}
		return h(ctx, tx, ev, msg)
	})
}

// OnUser is On for an event about one user, whose payload names them in a user_id field: h gets
// the id as well, checked to be a UUID (Event.UUID: a malformed one is dead-lettered at once).
func OnUser[T interface {
	proto.Message
	GetUserId() string
}](c *Consumer, h func(ctx context.Context, tx pgx.Tx, ev Event, msg T, userID string) error) {
	On(c, func(ctx context.Context, tx pgx.Tx, ev Event, msg T) error {
		id, err := ev.UUID("user_id", msg.GetUserId())
		if err != nil {
			return err
		}
		return h(ctx, tx, ev, msg, id)
	})
}

// Permanent marks a handler error as one that retrying cannot fix (the event is invalid for this
// handler): the event goes to the dead-letter topic without further attempts.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return marked{err, errMarkedPermanent}
}

// Transient marks a handler error as one that waiting will fix, not a fault of the event: a
// dependency the handler writes to (Redis, another service) is down or stuck. Like a database
// outage it does not count against MaxAttempts: the event is retried after RetryBackoff, doubled
// after each failure up to MaxBackoff, for as long as it takes, and never dead-lettered. Its offset
// is not marked until it is applied, so the records behind it wait and a restart or rebalance
// delivers it again. Use it for effects that must not be lost (a session revocation), knowing that
// it stalls the partition — in a consumer without a Pool, every partition of the poll — meanwhile.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return marked{err, errMarkedTransient}
}

// The marks Permanent and Transient put on a handler's error, found with errors.Is anywhere in
// it (a Transient inside a Permanent is still waited for).
var (
	errMarkedPermanent = errors.New("permanent")
	errMarkedTransient = errors.New("transient")
)

// marked is a handler error with its mark.
type marked struct {
	error
	mark error
}

func (m marked) Unwrap() error        { return m.error }
func (m marked) Is(target error) bool { return target == m.mark }

// isPermanent reports whether err was marked Permanent.
func isPermanent(err error) bool { return errors.Is(err, errMarkedPermanent) }

// counts reports whether a handler's error counts against MaxAttempts (not when it is Transient).
func counts(err error) bool { return !errors.Is(err, errMarkedTransient) }

// Run consumes until ctx ends, then commits what was handled, leaves the group and returns nil.
// It first creates missing topics, dead-letter topics and replay topics, so consumers may start
// before any publisher has. A new group starts at the earliest records still in the topics.
// Records of a replay topic (ReplayTopic, filled by ReplayDeadLetters) are handled like the
// topic's own, and go back to the same dead-letter topic if they fail again.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("consumer: Run called twice")
	}
	client, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(c.cfg.Brokers...),
		kgo.ConsumerGroup(c.cfg.Group),
		// The topics, and their replay topics: dead letters an operator put back for this group.
		kgo.ConsumeTopics(append(slices.Clone(c.cfg.Topics), c.replayTopics()...)...),
		// Commit only what we marked, i.e. handled; the default commits whatever was polled.
		kgo.AutoCommitMarks(),
		// Partitions cannot be revoked while a polled batch is being handled, so a record is never
		// handled by two members at once, and the commit at revocation covers all that was done.
		kgo.BlockRebalanceOnPoll(),
		// Dead-letter writes: bounded, so a dead broker cannot block a stop; retried by us (a
		// possible duplicate in a dead-letter topic is harmless).
		kgo.RecordDeliveryTimeout(30 * time.Second),
		kgo.AllowIdempotentProduceCancellation(),
		kgo.WithLogger(kgoLogger{c.log}),
	}, append(c.fetchOpts(), c.cfg.ClientOpts...)...)...)
	if err != nil {
		return fmt.Errorf("consumer %s: new kafka client: %w", c.cfg.Group, err)
	}
	// Closing leaves the group, which revokes our partitions, which commits the marked offsets.
	defer client.CloseAllowingRebalance()
	c.client.Store(client)
	defer c.client.Store(nil)

	if err := c.ensureTopics(ctx, client); err != nil {
		return nil // only fails when ctx ended: a normal stop
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if c.cfg.Pool != nil && c.cfg.InboxRetention > 0 {
		wg.Go(func() { c.cleanInbox(ctx) })
	}

	c.log.Info("consumer started", "topics", c.cfg.Topics, "types", len(c.handlers), "inbox", c.cfg.Pool != nil)
	for {
		fetches := client.PollRecords(ctx, 256)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			client.AllowRebalance()
			return nil
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			c.log.Warn("consumer: fetch failed", "topic", topic, "partition", partition, "err", err)
		})
		if err := c.processAll(ctx, client, fetches.Records()); err != nil {
			// Only a stop gets here. What was not finished stays unmarked and is redelivered.
			client.AllowRebalance()
			return nil
		}
		client.AllowRebalance()
	}
}

// processAll handles the records of one poll in order and marks each once it is done: in batches
// of up to BatchSize in one transaction where it can, one at a time otherwise. It returns an
// error only when ctx ended; the records not yet marked are then redelivered.
func (c *Consumer) processAll(ctx context.Context, client *kgo.Client, recs []*kgo.Record) error {
	batch := make([]batchItem, 0, min(len(recs), c.cfg.BatchSize))
	flush := func() error {
		if err := c.processBatch(ctx, client, batch); err != nil {
			return err
		}
		for _, it := range batch {
			client.MarkCommitRecords(it.rec)
		}
		batch = batch[:0]
		return nil
	}
	if c.cfg.Pool == nil {
		return c.processWithoutDB(ctx, client, recs)
	}
	for _, rec := range recs {
		if c.cfg.BatchSize == 1 {
			if err := c.process(ctx, client, rec); err != nil {
				return err
			}
			client.MarkCommitRecords(rec)
			continue
		}
		ev, err := decodeEvent(rec)
		if err != nil {
			// Dead-lettered on its own, after what came before it.
			if err := flush(); err != nil {
				return err
			}
			if err := c.process(ctx, client, rec); err != nil {
				return err
			}
			client.MarkCommitRecords(rec)
			continue
		}
		batch = append(batch, batchItem{rec: rec, ev: ev, h: c.handlers[ev.Type]})
		if len(batch) == c.cfg.BatchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// processWithoutDB handles the records one at a time and, after every BatchSize of them and at
// the end, runs AfterBatch and marks them.
func (c *Consumer) processWithoutDB(ctx context.Context, client *kgo.Client, recs []*kgo.Record) error {
	for len(recs) > 0 {
		chunk := recs[:min(len(recs), c.cfg.BatchSize)]
		recs = recs[len(chunk):]
		for _, rec := range chunk {
			if err := c.process(ctx, client, rec); err != nil {
				return err
			}
		}
		if c.afterBatch != nil {
			c.afterBatch(ctx)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		client.MarkCommitRecords(chunk...)
	}
	return nil
}

// batchItem is a decoded record of a batch; h is nil for a type without a handler (skipped).
type batchItem struct {
	rec *kgo.Record
	ev  Event
	h   Handler
}

// processBatch handles the records of batch in one transaction: one inbox insert for all (the
// ones already there are redeliveries and are skipped), each new one's handler in order, one
// commit. If anything fails — a handler, the database — nothing of the batch is kept and its
// records are handled one at a time instead (process), which retries, waits out outages and
// dead-letters what keeps failing. It returns an error only when ctx ended.
func (c *Consumer) processBatch(ctx context.Context, client *kgo.Client, batch []batchItem) error {
	ids := make([]string, 0, len(batch))
	for _, it := range batch {
		if it.h != nil {
			ids = append(ids, it.ev.ID)
		}
	}
	switch {
	case len(ids) == 0:
		for _, it := range batch {
			c.log.Debug("no handler for event type, skipped", "event_id", it.ev.ID, "event_type", it.ev.Type)
		}
		return nil
	case len(ids) == 1:
		return c.oneByOne(ctx, client, batch)
	}
	err := c.handleBatch(ctx, batch, ids)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	c.log.Info("batch of events failed; handling them one at a time", "events", len(ids), "err", err)
	return c.oneByOne(ctx, client, batch)
}

func (c *Consumer) oneByOne(ctx context.Context, client *kgo.Client, batch []batchItem) error {
	for _, it := range batch {
		if err := c.process(ctx, client, it.rec); err != nil {
			return err
		}
	}
	return nil
}

func (c *Consumer) handleBatch(ctx context.Context, batch []batchItem, ids []string) error {
	tx, err := c.cfg.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit

	// A redelivered copy may appear twice in one batch; the insert keeps one and says which are new.
	rows, err := tx.Query(ctx, `INSERT INTO inbox (consumer_group, event_id) SELECT $1, unnest($2::uuid[])
		ON CONFLICT DO NOTHING RETURNING event_id::text`, c.cfg.Group, pg.UUIDs(ids))
	if err != nil {
		return fmt.Errorf("record events in inbox: %w", err)
	}
	fresh, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("record events in inbox: %w", err)
	}
	isNew := make(map[string]bool, len(fresh))
	for _, id := range fresh {
		isNew[id] = true
	}
	ctx, scope := withScope(ctx)
	handled := 0
	for _, it := range batch {
		if it.h == nil || !isNew[it.ev.ID] {
			continue // no handler, or already handled (before, or earlier in this batch)
		}
		delete(isNew, it.ev.ID)
		log := c.log.With("event_id", it.ev.ID, "event_type", it.ev.Type, "topic", it.ev.Topic, "partition", it.ev.Partition, "offset", it.ev.Offset)
		if err := c.callTraced(ctx, log, it.h, tx, it.ev); err != nil {
			return fmt.Errorf("%s %s: %w", it.ev.Type, it.ev.ID, err)
		}
		handled++
	}
	if err := scope.runBeforeCommit(ctx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	c.cfg.Telemetry.ConsumerHandled(c.cfg.Group, handled)
	return nil
}

// callTraced is callHandler inside the event's processing span, when tracing is on.
func (c *Consumer) callTraced(ctx context.Context, log *slog.Logger, h Handler, tx pgx.Tx, ev Event) error {
	if !c.cfg.Telemetry.Tracing() {
		return callHandler(ctx, log, h, tx, ev)
	}
	ctx, span := startProcess(ctx, c.cfg.Telemetry, c.cfg.Group, ev)
	err := callHandler(ctx, log, h, tx, ev)
	endProcess(span, err)
	return err
}

func (c *Consumer) fetchOpts() []kgo.Opt {
	if c.cfg.FetchMaxWait <= 0 {
		return nil
	}
	return []kgo.Opt{kgo.FetchMaxWait(c.cfg.FetchMaxWait), kgo.FetchMinBytes(max(1, c.cfg.FetchMinBytes))}
}

// process handles, skips or dead-letters rec. It returns an error only when ctx ended before it
// finished; then rec must not be marked.
func (c *Consumer) process(ctx context.Context, client *kgo.Client, rec *kgo.Record) error {
	ev, err := decodeEvent(rec)
	if err != nil {
		return c.deadLetter(ctx, client, rec, fmt.Errorf("malformed event: %w", err), 0)
	}
	log := c.log.With("event_id", ev.ID, "event_type", ev.Type, "topic", ev.Topic, "partition", ev.Partition, "offset", ev.Offset)
	h, ok := c.handlers[ev.Type]
	if !ok {
		log.Debug("no handler for event type, skipped")
		return nil
	}
	for attempts, outages, transient := 0, 0, 0; ; {
		counted, err := c.handle(ctx, log, h, ev)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var wait time.Duration
		if counted {
			attempts++
			if attempts >= c.cfg.MaxAttempts || isPermanent(err) {
				return c.deadLetter(ctx, client, rec, err, attempts)
			}
			c.cfg.Telemetry.ConsumerRetried(c.cfg.Group, "failed")
			wait = backoff.Delay(c.cfg.RetryBackoff, c.cfg.MaxBackoff, attempts)
			log.Warn("handler failed, will retry", "err", err, "attempt", attempts, "max_attempts", c.cfg.MaxAttempts, "retry_in", wait)
		} else if !counts(err) {
			c.cfg.Telemetry.ConsumerRetried(c.cfg.Group, "transient")
			transient++
			wait = backoff.Delay(c.cfg.RetryBackoff, c.cfg.MaxBackoff, transient)
			log.Warn("handler cannot apply the event yet (transient), will retry without limit", "err", err,
				"attempt", transient, "retry_in", wait)
		} else {
			c.cfg.Telemetry.ConsumerRetried(c.cfg.Group, "outage")
			outages++
			wait = backoff.Delay(c.cfg.RetryBackoff, c.cfg.MaxBackoff, outages)
			log.Warn("database unavailable, will retry", "err", err, "retry_in", wait)
		}
		if !backoff.Sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

// handle runs h once in a transaction with the inbox insert. counted reports whether a failure
// counts against MaxAttempts: handler errors and errors the database server returned do; failing
// to reach the database (also a connection lost while the handler ran and the database is
// unreachable: handlerFailureCounts) and Transient handler errors do not, so an outage does not
// dead-letter every event in flight.
func (c *Consumer) handle(ctx context.Context, log *slog.Logger, h Handler, ev Event) (counted bool, err error) {
	if c.cfg.Pool == nil {
		err := c.callTraced(ctx, log, h, nil, ev)
		if err == nil {
			c.cfg.Telemetry.ConsumerHandled(c.cfg.Group, 1)
		}
		return counts(err), err
	}
	if c.cfg.Telemetry.Tracing() {
		// The span covers the inbox insert and the commit too: the event's whole cost.
		var span trace.Span
		ctx, span = startProcess(ctx, c.cfg.Telemetry, c.cfg.Group, ev)
		defer func() { endProcess(span, err) }()
	}
	tx, err := c.cfg.Pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit

	tag, err := tx.Exec(ctx, `INSERT INTO inbox (consumer_group, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		c.cfg.Group, ev.ID)
	if err != nil {
		return serverError(err), fmt.Errorf("record event in inbox: %w", err)
	}
	if tag.RowsAffected() == 0 {
		log.Debug("event already handled, skipped")
		return true, nil
	}
	ctx, scope := withScope(ctx)
	if err := callHandler(ctx, log, h, tx, ev); err != nil {
		return c.handlerFailureCounts(ctx, tx, err), err
	}
	if err := scope.runBeforeCommit(ctx); err != nil {
		return c.handlerFailureCounts(ctx, tx, err), err
	}
	if err := tx.Commit(ctx); err != nil {
		return serverError(err), fmt.Errorf("commit: %w", err)
	}
	c.cfg.Telemetry.ConsumerHandled(c.cfg.Group, 1)
	return true, nil
}

// handlerFailureCounts reports whether a handler's error (or its BeforeCommit hooks') counts
// against MaxAttempts. Transient ones do not; nor does one whose connection broke while the
// database cannot be reached (restarting, the network down): an outage, not the event's fault.
// A connection that broke while the database still answers counts — the event itself may be what
// breaks it (a statement that kills its backend), and it must reach its dead letter, not stall the
// partition.
func (c *Consumer) handlerFailureCounts(ctx context.Context, tx pgx.Tx, err error) bool {
	if !counts(err) {
		return false
	}
	if !tx.Conn().IsClosed() {
		return true
	}
	pctx, cancel := context.WithTimeout(ctx, outagePingTimeout)
	defer cancel()
	return c.cfg.Pool.Ping(pctx) == nil
}

// outagePingTimeout bounds the ping that tells a database outage from a connection lost alone.
const outagePingTimeout = 2 * time.Second

func serverError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr)
}

// callHandler turns a panic into an error, so one bad event is retried and dead-lettered instead
// of crashing the service into a loop of redeliveries.
func callHandler(ctx context.Context, log *slog.Logger, h Handler, tx pgx.Tx, ev Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("handler panicked", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return h(ctx, tx, ev)
}

// decodeEvent reads the CloudEvents headers. A record without a UUID ce_id or without ce_type
// cannot be deduplicated or routed, so it is malformed; so is an unparsable ce_time.
func decodeEvent(rec *kgo.Record) (Event, error) {
	hs := make(map[string]string, len(rec.Headers))
	for _, h := range rec.Headers {
		hs[h.Key] = string(h.Value)
	}
	ev := Event{
		ID: hs[HeaderID], Type: hs[HeaderType], Source: hs[HeaderSource],
		Topic: rec.Topic, Key: string(rec.Key), Payload: rec.Value, Headers: hs,
		Partition: rec.Partition, Offset: rec.Offset,
	}
	if ev.ID == "" {
		return ev, errors.New("no " + HeaderID + " header")
	}
	id, err := uuid.Parse(ev.ID)
	if err != nil {
		return ev, fmt.Errorf("%s %q is not a UUID", HeaderID, ev.ID)
	}
	ev.ID = id.String()
	if ev.Type == "" {
		return ev, errors.New("no " + HeaderType + " header")
	}
	if t := hs[HeaderTime]; t != "" {
		if ev.Time, err = time.Parse(time.RFC3339Nano, t); err != nil {
			return ev, fmt.Errorf("%s %q: %w", HeaderTime, t, err)
		}
	}
	return ev, nil
}

// deadLetter copies rec, with its key, value and headers, to the group's dead-letter topic with
// headers saying why, retrying until it is written: the offset may only move past rec once rec is
// safe somewhere. It returns an error only when ctx ended first.
func (c *Consumer) deadLetter(ctx context.Context, client *kgo.Client, rec *kgo.Record, cause error, attempts int) error {
	origin := originTopic(rec.Topic, c.cfg.Group) // a replayed record's own topic
	topic := DeadLetterTopic(origin, c.cfg.Group)
	headers := append(slices.Clip(rec.Headers),
		kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(cause.Error())},
		kgo.RecordHeader{Key: HeaderDLQGroup, Value: []byte(c.cfg.Group)},
		kgo.RecordHeader{Key: HeaderDLQAttempts, Value: []byte(strconv.Itoa(attempts))},
		kgo.RecordHeader{Key: HeaderDLQTopic, Value: []byte(rec.Topic)},
		kgo.RecordHeader{Key: HeaderDLQPartition, Value: []byte(strconv.FormatInt(int64(rec.Partition), 10))},
		kgo.RecordHeader{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(rec.Offset, 10))},
		kgo.RecordHeader{Key: HeaderDLQTime, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
	)
	for failures := 0; ; {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := client.ProduceSync(pctx, &kgo.Record{Topic: topic, Key: rec.Key, Value: rec.Value, Headers: headers}).FirstErr()
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		failures++
		wait := backoff.Delay(c.cfg.RetryBackoff, c.cfg.MaxBackoff, failures)
		c.log.Error("cannot write to dead-letter topic, will retry", "dlq_topic", topic, "err", err, "retry_in", wait)
		if !backoff.Sleep(ctx, wait) {
			return ctx.Err()
		}
	}
	c.cfg.Telemetry.ConsumerDeadLettered(c.cfg.Group, origin) // the label names <topic>.dlq.<group>
	c.log.Error("event dead-lettered", "dlq_topic", topic, "err", cause, "attempts", attempts,
		"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "event_id", headerValue(rec, HeaderID))
	return nil
}

func headerValue(rec *kgo.Record, key string) string {
	for _, h := range rec.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// replayTopics are the ReplayTopics of the group's topics.
func (c *Consumer) replayTopics() []string {
	ts := make([]string, len(c.cfg.Topics))
	for i, t := range c.cfg.Topics {
		ts[i] = ReplayTopic(t, c.cfg.Group)
	}
	return ts
}

// ensureTopics creates missing topics, dead-letter topics and replay topics, retrying while Kafka
// is unreachable. It returns an error only when ctx ends.
func (c *Consumer) ensureTopics(ctx context.Context, client *kgo.Client) error {
	small := c.replayTopics() // dead-letter and replay topics: one partition each
	for _, t := range c.cfg.Topics {
		small = append(small, DeadLetterTopic(t, c.cfg.Group))
	}
	for failures := 0; ; {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := CreateMissingTopics(tctx, client, c.cfg.Partitions, c.cfg.Topics...)
		if err == nil {
			err = CreateMissingTopics(tctx, client, 1, small...)
		}
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		failures++
		wait := backoff.Delay(c.cfg.RetryBackoff, c.cfg.MaxBackoff, failures)
		c.log.Warn("cannot create topics, will retry", "err", err, "retry_in", wait)
		if !backoff.Sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

// cleanInbox deletes this group's inbox rows older than InboxRetention, now and then (hourly, or
// more often when the retention is shorter), in small batches.
func (c *Consumer) cleanInbox(ctx context.Context) {
	const batch = 1000
	for {
		cutoff := time.Now().Add(-c.cfg.InboxRetention)
		for {
			tag, err := c.cfg.Pool.Exec(ctx, `
				DELETE FROM inbox WHERE consumer_group = $1 AND event_id IN (
					SELECT event_id FROM inbox WHERE consumer_group = $1 AND processed_at < $2 LIMIT $3)`,
				c.cfg.Group, cutoff, batch)
			if err != nil {
				if ctx.Err() == nil {
					c.log.Warn("delete old inbox rows", "err", err)
				}
				break
			}
			if tag.RowsAffected() < batch {
				break
			}
		}
		if !backoff.Sleep(ctx, min(time.Hour, c.cfg.InboxRetention)) {
			return
		}
	}
}

package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/parleyhq/parley/platform/backoff"
	"github.com/parleyhq/parley/platform/defaults"
	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/platform/telemetry"
)

// relayLockKey is the transaction-scoped advisory lock that lets one relay per database publish at
// a time. Advisory locks are per database, so services sharing a Postgres server do not contend.
const relayLockKey = 7_301_000_002

// busyRecheck is how soon the relay looks again when another replica held the relay lock: that
// replica's pass may have started before this replica's rows committed. The wait doubles while
// the lock stays busy, up to PollInterval.
const busyRecheck = 5 * time.Millisecond

// RelayConfig configures a Relay. Pool, Brokers and Logger are required.
type RelayConfig struct {
	Pool    *pgxpool.Pool // the service's database, holding the outbox table
	Brokers []string
	Logger  *slog.Logger

	// PollInterval is how often the relay looks for rows when no notification woke it: the upper
	// bound of latency if notifications are lost (listener reconnecting). Default 1s.
	PollInterval time.Duration
	// BatchSize caps the rows published per database transaction. Default 256.
	BatchSize int
	// PublishTimeout bounds the Kafka work of one batch (creating topics, producing). After it the
	// batch is retried, so a dead broker costs a warning and a wait, not a stuck relay. Default
	// 10s; at least 1s (franz-go's minimum delivery timeout).
	PublishTimeout time.Duration
	// MaxBackoff caps the wait between retries after failures (doubling from 100ms). Default 30s.
	MaxBackoff time.Duration
	// Partitions is the partition count of topics the relay creates. Default DefaultPartitions.
	Partitions int32
	// ClientOpts are extra franz-go options, applied after the relay's own: a service passes
	// kafkaconn.Options (TLS, SASL from the KAFKA_* variables).
	ClientOpts []kgo.Opt
	// Wakeups wakes the relay from this process, without the database: Outbox.Wakeups() of an
	// outbox whose writer calls Wake after each commit (WakeRelay off). Nil: NOTIFY and polls only.
	Wakeups <-chan struct{}
	// Linger is the least time between the starts of two passes when the relay is woken, so that
	// under load one pass publishes many events instead of each commit paying a pass of its own
	// (franz-go's linger, one level up). Default 0: every wake-up starts a pass at once.
	Linger time.Duration
	// Telemetry, when set, gets the relay's metrics (published events, failed passes, and at each
	// scrape the outbox's backlog and the age of its oldest row) and, with tracing on, a producer
	// span per event that carries trace context (see trace.go).
	Telemetry *telemetry.Telemetry
}

// Relay publishes outbox rows to Kafka. Run it in every replica of a service that publishes
// events: replicas take turns through an advisory lock, so there is no leader to elect and a dead
// replica is replaced by whichever one looks next.
type Relay struct {
	cfg RelayConfig
	log *slog.Logger
}

// NewRelay checks cfg and fills in defaults. Nothing connects until Run.
func NewRelay(cfg RelayConfig) (*Relay, error) {
	switch {
	case cfg.Pool == nil:
		return nil, errors.New("new relay: no database pool")
	case len(cfg.Brokers) == 0:
		return nil, errors.New("new relay: no kafka brokers")
	case cfg.Logger == nil:
		return nil, errors.New("new relay: no logger")
	case cfg.PublishTimeout != 0 && cfg.PublishTimeout < time.Second:
		return nil, fmt.Errorf("new relay: publish timeout %v is under 1s", cfg.PublishTimeout)
	}
	cfg.PollInterval = defaults.Positive(cfg.PollInterval, time.Second)
	cfg.BatchSize = defaults.Positive(cfg.BatchSize, 256)
	cfg.PublishTimeout = defaults.Positive(cfg.PublishTimeout, 10*time.Second)
	cfg.MaxBackoff = defaults.Positive(cfg.MaxBackoff, 30*time.Second)
	cfg.Partitions = defaults.Positive(cfg.Partitions, DefaultPartitions)
	r := &Relay{cfg: cfg, log: cfg.Logger.With("component", "outbox-relay")}
	r.watchBacklog()
	return r, nil
}

// watchBacklog publishes, at each scrape, how many events wait in the outbox and how old the
// oldest is: the signs of a relay that cannot publish (Kafka down, the relay stuck). One statement
// answers both: it counts the table and finds the oldest row on the primary key.
func (r *Relay) watchBacklog() {
	pool := r.cfg.Pool
	r.cfg.Telemetry.WatchTogether([]telemetry.Family{
		{Name: telemetry.MetricOutboxPending, Help: "Events waiting in the outbox for the relay."},
		{Name: telemetry.MetricOutboxOldestAge, Help: "Age of the oldest event waiting in the outbox (0 when it is empty)."},
	}, func(ctx context.Context) ([][]telemetry.Sample, error) {
		var n int64
		var age float64
		if err := pool.QueryRow(ctx, backlogSQL).Scan(&n, &age); err != nil {
			return nil, fmt.Errorf("outbox backlog: %w", err)
		}
		return [][]telemetry.Sample{{{Value: float64(n)}}, {{Value: max(age, 0)}}}, nil
	})
}

// backlogSQL counts the outbox's rows and says how old the oldest is, in seconds (0 when empty).
const backlogSQL = `SELECT count(*),
	coalesce(extract(epoch FROM clock_timestamp() - (SELECT ce_time FROM outbox ORDER BY id LIMIT 1)), 0)::float8
FROM outbox`

// Run publishes outbox rows until ctx ends, then returns nil. Failures (broker or database down)
// are logged and retried with capped exponential backoff: rows stay in the outbox until Kafka has
// acknowledged them, so nothing is lost, and a restarted relay continues where the last stopped.
// A crash between Kafka's acknowledgement and the database commit publishes a batch again; the
// copies carry the same ce_id and consumers' inboxes drop them.
func (r *Relay) Run(ctx context.Context) error {
	client, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(r.cfg.Brokers...),
		// Idempotent production is franz-go's default: the client's own retries cannot duplicate
		// or reorder records within a partition. The delivery timeout fails a batch on a dead
		// broker instead of retrying inside the client forever while our transaction stays open.
		kgo.RecordDeliveryTimeout(r.cfg.PublishTimeout),
		// By default franz-go will not give up on a request that may have reached the broker
		// (it cannot tell "never received" from "written, reply lost"), so a broker dying
		// mid-request would block the relay, and its shutdown, until the broker returns. We
		// retry whole batches ourselves and consumers drop duplicates by ce_id, so a possible
		// duplicate is the cheaper outcome.
		kgo.AllowIdempotentProduceCancellation(),
		kgo.WithLogger(kgoLogger{r.log}),
	}, r.cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("outbox relay: new kafka client: %w", err)
	}
	defer client.Close()

	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { r.listen(ctx, wake) })

	r.log.Info("outbox relay started", "brokers", r.cfg.Brokers, "poll_interval", r.cfg.PollInterval,
		"wakeups", r.cfg.Wakeups != nil, "linger", r.cfg.Linger)
	poll := time.NewTicker(r.cfg.PollInterval)
	defer poll.Stop()
	ensured := map[string]bool{} // topics known to exist
	var lastPass time.Time
	busyRounds := 0 // consecutive passes that found the relay lock taken
	for failures := 0; ; {
		lastPass = time.Now()
		state, err := r.publishBatch(ctx, client, ensured)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.cfg.Telemetry.OutboxFailed()
			failures++
			clear(ensured) // the failure may be a topic that vanished; check again
			wait := backoff.Delay(100*time.Millisecond, r.cfg.MaxBackoff, failures)
			r.log.Warn("outbox relay: publish failed, will retry", "err", err, "failures", failures, "retry_in", wait)
			if !backoff.Sleep(ctx, wait) {
				return nil
			}
			continue
		}
		if failures > 0 {
			r.log.Info("outbox relay: publishing again", "after_failures", failures)
			failures = 0
		}
		var recheck <-chan time.Time
		switch state {
		case batchFull:
			busyRounds = 0
			continue // more rows are likely waiting
		case batchLockBusy:
			recheck = time.After(min(busyRecheck<<min(busyRounds, 16), r.cfg.PollInterval))
			busyRounds++
		default:
			busyRounds = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-r.cfg.Wakeups:
			if wait := r.cfg.Linger - time.Since(lastPass); wait > 0 && !backoff.Sleep(ctx, wait) {
				return nil
			}
		case <-poll.C:
		case <-recheck:
		}
	}
}

type batchState int

const (
	batchDone     batchState = iota // nothing (more) to publish now
	batchFull                       // the batch was full: publish again at once
	batchLockBusy                   // another replica was publishing
)

type outboxRow struct {
	id      int64
	eventID string
	topic   string
	key     string
	ceType  string
	source  string
	time    time.Time
	payload []byte
	headers map[string]string
}

// publishBatch publishes up to BatchSize rows and deletes them, in one transaction that holds the
// relay lock throughout, so two relays can never publish the same row or interleave two batches
// (which would break per-key order).
//
// Rows are published in id order as soon as they are visible, and deleted one by one (never "done
// up to id N", which a transaction committing out of id order would make skip). Per key this is
// commit order for transactions that serialise on the key before they write the event, the rule
// Outbox.Publish states: such a transaction takes its row's id after the previous one on the key
// committed, so ids, commits and visibility follow one order. No other transaction matters, so
// none is waited for: a long write transaction elsewhere on the server does not hold events back
// (an earlier relay published only rows below the oldest running transaction, which tied every
// service's event latency to the longest transaction on the server).
//
// No FOR UPDATE: the advisory lock already excludes other relays, and row locks would give this
// transaction an xid during the Kafka round trip.
func (r *Relay) publishBatch(ctx context.Context, client *kgo.Client, ensured map[string]bool) (batchState, error) {
	conn, err := r.cfg.Pool.Acquire(ctx)
	if err != nil {
		return batchDone, fmt.Errorf("acquire connection: %w", err)
	}
	defer pg.Release(ctx, conn) // rolls back unless committed, even after a stop

	pending, locked, err := r.takeRows(ctx, conn)
	if err != nil {
		return batchDone, fmt.Errorf("read outbox rows: %w", err)
	}
	if !locked {
		return batchLockBusy, nil // another replica is publishing; it may not have seen our rows
	}
	if len(pending) == 1 && pending[0].id == 0 {
		pending = nil // the lock's answer alone: nothing is waiting
	}
	state := batchDone
	if len(pending) == r.cfg.BatchSize {
		state = batchFull
	}
	if len(pending) == 0 {
		return state, nil
	}

	kctx, cancel := context.WithTimeout(ctx, r.cfg.PublishTimeout)
	defer cancel()
	topics, err := r.ensureTopics(kctx, client, pending, ensured)
	if err != nil {
		return batchDone, err
	}
	records := make([]*kgo.Record, len(pending))
	var spans []trace.Span
	for i := range pending {
		if span := startPublish(r.cfg.Telemetry, &pending[i]); span != nil {
			spans = append(spans, span)
		}
		records[i] = pending[i].record()
	}
	// One call for the whole batch: records are buffered in order, so per-partition order is the
	// outbox order, and idempotence keeps it through retries. If any record fails, nothing is
	// deleted and the whole batch goes again: the delivered copies become duplicates that inboxes
	// drop, which is better than re-sending a failed record after its successors.
	err = client.ProduceSync(kctx, records...).FirstErr()
	endSpans(spans, err)
	if err != nil {
		if errors.Is(err, kerr.UnknownTopicID) {
			// The topic was deleted and created anew (we may have just created it again):
			// franz-go keeps failing on the old topic id until told to forget the topic.
			client.PurgeTopicsFromClient(topics...)
		}
		return batchDone, fmt.Errorf("produce %d events: %w", len(records), err)
	}
	tag, err := conn.Exec(ctx, "COMMIT")
	if err == nil && tag.String() != "COMMIT" {
		err = fmt.Errorf("commit ended with %q", tag.String())
	}
	if err != nil {
		return batchDone, fmt.Errorf("delete %d published events: %w", len(pending), err)
	}
	r.cfg.Telemetry.OutboxPublished(len(pending))
	r.log.Debug("published outbox events", "count", len(pending), "first_id", pending[0].id, "last_id", pending[len(pending)-1].id)
	return state, nil
}

// takeRows opens conn's transaction and, in the same round trip, takes the relay lock and
// deletes and returns the oldest rows; locked is false when another relay holds the lock.
//
// READ COMMITTED, whatever the server default: the statement must see everything committed
// before it started, so it sees the deletions of a relay that released the lock just before we
// took it. Under REPEATABLE READ the snapshot would predate the lock. The deletions commit only
// after Kafka has the records; if producing fails, the rollback puts the rows back.
func (r *Relay) takeRows(ctx context.Context, conn *pgxpool.Conn) (pending []outboxRow, locked bool, err error) {
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	b.Queue(noSeqScanSQL)
	b.Queue(takeRowsSQL, relayLockKey, r.cfg.BatchSize)
	br := conn.SendBatch(ctx, b)
	if _, err = br.Exec(); err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		var rows pgx.Rows
		if rows, err = br.Query(); err == nil {
			pending, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (outboxRow, error) {
				var o outboxRow
				var id *int64
				var eventID, topic, key, ceType, source *string
				var at *time.Time
				err := row.Scan(&locked, &id, &eventID, &topic, &key, &ceType, &source, &at, &o.payload, &o.headers)
				if err != nil || id == nil {
					return outboxRow{}, err // no row: the lock's answer alone
				}
				o.id, o.eventID, o.topic, o.key, o.ceType, o.source, o.time = *id, *eventID, *topic, *key, *ceType, *source, *at
				return o, nil
			})
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return pending, locked, err
}

// ensureTopics creates the topics of pending that this relay has not yet ensured (recording
// them in ensured) and returns every topic of the batch.
func (r *Relay) ensureTopics(ctx context.Context, client *kgo.Client, pending []outboxRow, ensured map[string]bool) ([]string, error) {
	var topics, newTopics []string
	for _, o := range pending {
		if !slices.Contains(topics, o.topic) {
			topics = append(topics, o.topic)
			if !ensured[o.topic] {
				newTopics = append(newTopics, o.topic)
			}
		}
	}
	if len(newTopics) == 0 {
		return topics, nil
	}
	if err := CreateMissingTopics(ctx, client, r.cfg.Partitions, newTopics...); err != nil {
		return nil, fmt.Errorf("ensure topics: %w", err)
	}
	for _, t := range newTopics {
		ensured[t] = true
	}
	return topics, nil
}

// noSeqScanSQL keeps the relay's transaction off sequential scans (see takeRowsSQL).
const noSeqScanSQL = `SET LOCAL enable_seqscan = off`

// takeRowsSQL takes the relay lock and, only when it got it, deletes the oldest rows and returns
// them in publishing order. The lock's answer comes on every row, and alone (with NULL columns)
// when no row is waiting.
//
// The oldest rows are found by walking the primary key and deleted by their physical address
// (ctid), under noSeqScanSQL: a scan of the whole table would also read every row deleted since
// the last vacuum, which on a busy outbox is most of it — and the planner chose that scan (with
// a hash join, for "id IN (subquery)") whenever the table looked small when the statement was
// planned, after which pgx's prepared statement kept the plan. Nothing else updates or deletes
// outbox rows while the relay lock is held, so the addresses stay valid for the statement.
const takeRowsSQL = `
WITH l AS (SELECT pg_try_advisory_xact_lock($1) AS locked),
d AS (
	DELETE FROM outbox
	WHERE (SELECT locked FROM l) AND ctid = ANY (ARRAY(SELECT ctid FROM outbox ORDER BY id LIMIT $2))
	RETURNING id, event_id, topic, key, ce_type, ce_source, ce_time, payload, headers
)
SELECT l.locked, d.id, d.event_id::text, d.topic, d.key, d.ce_type, d.ce_source, d.ce_time, d.payload, d.headers
FROM l LEFT JOIN d ON true
ORDER BY d.id`

// record builds the Kafka record: key, protobuf value and CloudEvents binary-mode headers. The
// record timestamp is left to the producer (now): Kafka's time-based retention counts from it, and
// an event that waited in the outbox through an outage must not arrive already expired.
func (o outboxRow) record() *kgo.Record {
	headers := []kgo.RecordHeader{
		{Key: HeaderID, Value: []byte(o.eventID)},
		{Key: HeaderType, Value: []byte(o.ceType)},
		{Key: HeaderSource, Value: []byte(o.source)},
		{Key: HeaderTime, Value: []byte(o.time.UTC().Format(time.RFC3339Nano))},
		{Key: HeaderSpecVersion, Value: []byte(SpecVersion)},
		{Key: HeaderContentType, Value: []byte(ContentType)},
	}
	for _, k := range slices.Sorted(maps.Keys(o.headers)) {
		if !reservedHeader(k) {
			headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(o.headers[k])})
		}
	}
	return &kgo.Record{Topic: o.topic, Key: []byte(o.key), Value: o.payload, Headers: headers}
}

// listen keeps a connection LISTENing for the outbox's wake-up notifications and turns each into
// a wake-up. It uses its own connection, not one of the pool's: a listening connection is busy for
// as long as the relay runs.
func (r *Relay) listen(ctx context.Context, wake chan<- struct{}) {
	for failures := 0; ; {
		listening, err := r.listenOnce(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		if listening {
			failures = 0
		}
		failures++
		wait := backoff.Delay(100*time.Millisecond, r.cfg.MaxBackoff, failures)
		r.log.Warn("outbox relay: lost notifications, polling meanwhile", "err", err, "retry_in", wait)
		if !backoff.Sleep(ctx, wait) {
			return
		}
	}
}

func (r *Relay) listenOnce(ctx context.Context, wake chan<- struct{}) (listening bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, r.cfg.Pool.Config().ConnConfig.Copy())
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		conn.Close(closeCtx) // closing a connection we are abandoning
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	r.log.Debug("listening for outbox notifications")
	nudge(wake) // rows may have committed while nobody listened
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return true, fmt.Errorf("wait for notification: %w", err)
		}
		nudge(wake)
	}
}

// nudge wakes the publishing loop without blocking; one pending wake-up covers any number of
// notifications, since a pass publishes everything ready.
func nudge(wake chan<- struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}

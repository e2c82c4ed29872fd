// Package events carries domain events between services over Kafka without dual writes and
// without double effects:
//
//   - Outbox.Publish writes an event into the outbox table inside the caller's business
//     transaction, so the event exists if and only if the state change commits.
//   - Relay publishes outbox rows to Kafka (idempotent producer, CloudEvents binary-mode headers)
//     in commit-safe order and marks them published. Run one in every replica; an advisory lock
//     lets one publish at a time.
//   - Consumer runs a consumer group whose handlers get a transaction that also records the event
//     id in the inbox table, so a redelivered event has no second effect. Offsets are committed
//     only after a record is handled; records that keep failing go to a dead-letter topic.
//
// Delivery is at least once on the wire and effectively once in the database. Services apply
// Migrations with pg.Migrate(ctx, pool, "events", events.Migrations). The package knows nothing
// about what events mean: payloads are protobuf messages, typed by their full name.
//
// Topics are named by the services (the package takes any name). Nobody needs to create them up
// front: a Relay creates a topic before it first publishes to it, and a Consumer creates its topics,
// its dead-letter topics ("<topic>.dlq.<group>", see DeadLetterTopic) and its replay topics when it
// starts (CreateMissingTopics): the topics with DefaultPartitions partitions unless configured
// otherwise, the dead-letter and replay topics with one.
package events

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/platform/pg"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations creates the outbox and inbox tables. Apply it with
// pg.Migrate(ctx, pool, "events", events.Migrations) in every service that publishes or consumes.
var Migrations = pg.MigrationsDir(migrationFiles)

// CloudEvents binary-mode headers (https://github.com/cloudevents/spec, Kafka protocol binding)
// set by the relay on every record and read by the consumer.
const (
	HeaderID          = "ce_id"
	HeaderType        = "ce_type"
	HeaderSource      = "ce_source"
	HeaderTime        = "ce_time" // RFC 3339 with nanoseconds, UTC
	HeaderSpecVersion = "ce_specversion"
	HeaderContentType = "content-type"

	SpecVersion = "1.0"
	ContentType = "application/protobuf"
)

// notifyChannel is the LISTEN/NOTIFY channel Publish signals when WakeRelay is on.
const notifyChannel = "events_outbox"

// Outbox writes events into the outbox table. It is safe for concurrent use.
type Outbox struct {
	// Source is the CloudEvents source of every event written: the publishing service ("auth").
	Source string
	// Headers, when set, returns extra record headers for an event published under ctx: the place
	// for trace context (traceparent, tracestate) that a propagator takes from ctx. Names of
	// CloudEvents headers are ignored.
	Headers func(ctx context.Context) map[string]string
	// WakeRelay makes each Publish NOTIFY the relay, so the event leaves within milliseconds of the
	// commit. NewOutbox turns it on. The price: a transaction that has sent NOTIFY takes a
	// server-wide lock at commit and holds it until its commit record is flushed (notifications are
	// queued in commit order), so such commits happen one at a time. A service that writes
	// thousands of events a second (chat) turns it off and calls Wake after each commit instead,
	// which wakes the relay of its own process without touching the database.
	WakeRelay bool

	wake chan struct{}
}

// NewOutbox returns an Outbox whose events carry source as their CloudEvents source and wake the
// relay at commit.
func NewOutbox(source string) *Outbox {
	return &Outbox{Source: source, WakeRelay: true, wake: make(chan struct{}, 1)}
}

// Wake tells the relay of this process (RelayConfig.Wakeups = Wakeups()) that events have been
// committed. Call it after the commit, never before: a relay woken earlier would not see them yet.
// It never blocks; wake-ups that arrive while one is pending are one wake-up, since a relay pass
// publishes everything ready. Other replicas' relays learn of the events from their next poll.
func (o *Outbox) Wake() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Wakeups is the channel Wake signals, for RelayConfig.Wakeups.
func (o *Outbox) Wakeups() <-chan struct{} { return o.wake }

// Execer runs a statement in the caller's transaction: a pgx.Tx, or anything that forwards to one.
type Execer = pg.Execer

// OutboxColumns are the columns an OutboxRow's Values fill, in order, for a caller that inserts
// its event in a statement of its own (see Row).
const OutboxColumns = "event_id, topic, key, ce_type, ce_source, ce_time, payload, headers"

// OutboxRow is one event as the outbox stores it.
type OutboxRow struct {
	EventID uuid.UUID
	Topic   string
	Key     string
	Type    string // ce_type: the payload's protobuf full name
	Source  string
	Time    time.Time
	Payload []byte // protobuf binary
	Headers map[string]string
}

// Values are the row's values in OutboxColumns order.
func (r OutboxRow) Values() []any {
	return []any{r.EventID, r.Topic, r.Key, r.Type, r.Source, r.Time, r.Payload, r.Headers}
}

// Row builds the outbox row of msg without writing it: for a caller that inserts it in its own
// statement, in the same transaction as the state change (INSERT INTO outbox (OutboxColumns) …).
// Such a caller owns what Publish would do for it: the relay wake-up (WakeRelay's NOTIFY, or Wake
// after the commit) and the ordering rule in Publish's comment. A payload may be completed in SQL
// by appending protobuf-encoded fields, which decode as if the message had carried them (chat
// appends the seq and the time it hands out under the chat's lock).
func (o *Outbox) Row(ctx context.Context, topic, key string, msg proto.Message) (OutboxRow, error) {
	if o.Source == "" {
		return OutboxRow{}, errors.New("publish event: outbox has no source")
	}
	if topic == "" {
		return OutboxRow{}, errors.New("publish event: empty topic")
	}
	if msg == nil {
		return OutboxRow{}, errors.New("publish event: nil message")
	}
	ceType := string(msg.ProtoReflect().Descriptor().FullName())
	payload, err := proto.Marshal(msg)
	if err != nil {
		return OutboxRow{}, fmt.Errorf("publish %s: marshal: %w", ceType, err)
	}
	// Version 7 ids grow with time, which keeps the inbox's (group, event_id) index appending at
	// its right edge instead of writing all over it.
	id, err := uuid.NewV7()
	if err != nil {
		return OutboxRow{}, fmt.Errorf("publish %s: new event id: %w", ceType, err)
	}
	headers := map[string]string{}
	if o.Headers != nil {
		for k, v := range o.Headers(ctx) {
			if !reservedHeader(k) {
				headers[k] = v
			}
		}
	}
	return OutboxRow{EventID: id, Topic: topic, Key: key, Type: ceType, Source: o.Source, Time: time.Now(),
		Payload: payload, Headers: headers}, nil
}

// Publish writes msg as an event for topic, keyed by key, in tx, and returns its id (ce_id).
//
// It takes a transaction, not a pool, on purpose: the event must commit or roll back together
// with the state change that caused it. Nothing is sent before tx commits; the relay sends it
// within milliseconds after. key is the entity whose events must stay in order (a user id, a chat
// id): Kafka keeps order per key, and the relay publishes in the order the outbox rows were
// inserted. Concurrent transactions that publish for the same key must therefore serialise on
// the key before they insert the event — e.g. pg_advisory_xact_lock(<key hash>) (chat does), or
// a lock on the entity's row taken before the insert — so that insertion order is commit order
// for that key. A single writer per key at a time needs nothing.
//
// The event type (ce_type) is the message's protobuf full name, e.g. "parley.events.v1.UserRegistered".
// Publish runs exactly one statement through tx.Exec, so tx may also be a caller's own Execer
// that queues the statement to send it later in the same transaction (notification's store
// pipelines its writes that way).
func (o *Outbox) Publish(ctx context.Context, tx Execer, topic, key string, msg proto.Message) (string, error) {
	row, err := o.Row(ctx, topic, key, msg)
	if err != nil {
		return "", err
	}
	insert := `INSERT INTO outbox (` + OutboxColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	if o.WakeRelay {
		// Still one statement (see above): the notification is sent at commit, and not at all on
		// rollback; Postgres folds a transaction's identical notifications into one.
		insert = `WITH e AS (` + insert + ` RETURNING 1) SELECT pg_notify('` + notifyChannel + `', '') FROM e`
	}
	if _, err := tx.Exec(ctx, insert, row.Values()...); err != nil {
		return "", fmt.Errorf("publish %s to %s: insert outbox row: %w", row.Type, topic, err)
	}
	return row.EventID.String(), nil
}

func reservedHeader(name string) bool {
	switch name {
	case HeaderID, HeaderType, HeaderSource, HeaderTime, HeaderSpecVersion, HeaderContentType:
		return true
	}
	return false
}

package notificationdb

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/services/notification/internal/notification"
)

// How txStore sends its statements: writes queued and pipelined with the next read (see txStore).

// queryRowFunc is QueryRow of a pool, a transaction or a txStore (which sends queued writes first).
type queryRowFunc func(ctx context.Context, sql string, args ...any) pgx.Row

// txStore is notification.Tx over one pgx transaction.
//
// Writes whose outcome nobody reads (inserts, deletes, locks, events) are not sent at once: they
// are queued and travel with the next statement that returns something, or with the flush before
// the commit, in one round trip (a pgx batch, pipelined). A use case that writes three things and
// reads one costs one round trip instead of four; the statements still run in the order they were
// issued, inside the same transaction, so what a read sees and what commits are unchanged. A
// queued write that fails makes the read (or the flush) that carried it fail with its error, and
// the transaction rolls back as it would have.
type txStore struct {
	tx     pgx.Tx
	outbox *events.Outbox

	queue []*queuedWrite // writes not sent yet, in order

	// Within one consumer transaction (several events, events.Scope) the store also remembers:
	locked   map[string]bool                            // users whose lock this transaction holds
	contexts map[contextKey]notification.MessageContext // MessageContext answers, kept current
	inserted map[string]*queuedWrite                    // notification id → its insert, not sent yet
	deleted  map[string]bool                            // AnyDeleted answers: user id → deleted
}

// queuedWrite is a write not sent yet; a dropped one is never sent (a notification inserted and
// replaced within the same transaction). A write with an owner changes only that user's
// notifications: it may stay queued while a statement about someone else goes out (see send).
type queuedWrite struct {
	what    string
	sql     string
	args    []any
	owner   string
	dropped bool
}

type contextKey struct{ recipient, sender, collapseKey string }

var _ notification.Tx = (*txStore)(nil)

// later queues a write whose outcome nobody reads.
func (t *txStore) later(what, sql string, args ...any) { t.laterFor("", what, sql, args...) }

// laterFor queues a write that changes only owner's notifications.
func (t *txStore) laterFor(owner, what, sql string, args ...any) *queuedWrite {
	w := &queuedWrite{what: what, sql: sql, args: args, owner: owner}
	t.queue = append(t.queue, w)
	return w
}

// The statements a read needs sent before it: everything (sendAll); everything but what changes
// notifications (notNotifications: the read does not look at any); everything but other users'
// notification changes (about(user)).
func sendAll(*queuedWrite) bool            { return false }
func notNotifications(w *queuedWrite) bool { return w.owner != "" }
func about(user string) func(*queuedWrite) bool {
	return func(w *queuedWrite) bool { return w.owner != "" && w.owner != user }
}

// forget drops what the transaction remembers of answers, after a write that may change them.
func (t *txStore) forget() {
	clear(t.contexts)
}

// Exec queues sql like later, for Outbox.Publish (events.Execer): its insert is such a write.
func (t *txStore) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return queued{t, "write event"}.Exec(ctx, sql, args...)
}

// queued queues the statements of a helper that writes through a pg.Execer (as later does), under
// what, which names the write in the error of the read or flush that carries it.
type queued struct {
	t    *txStore
	what string
}

func (q queued) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	q.t.later(q.what, sql, args...)
	return pgconn.CommandTag{}, nil
}

// send sends the queued writes that keep does not keep back, and, when last is set, last after
// them, in one round trip. The writes kept back stay queued in their order (a user's notification
// changes are kept together, so their order among themselves holds). It returns the batch's
// results positioned at last's result (nil when there is no last), which the caller reads and
// closes.
func (t *txStore) send(ctx context.Context, keep func(*queuedWrite) bool, last func(*pgx.Batch)) (pgx.BatchResults, error) {
	queue := t.queue
	t.queue = nil
	b := &pgx.Batch{}
	var whats []string
	for _, w := range queue {
		switch {
		case w.dropped:
		case keep(w):
			t.queue = append(t.queue, w)
		default:
			if t.inserted != nil {
				delete(t.inserted, insertedID(w)) // sent: no longer droppable
			}
			b.Queue(w.sql, w.args...)
			whats = append(whats, w.what)
		}
	}
	if last != nil {
		last(b)
	}
	if b.Len() == 0 {
		return nil, nil
	}
	br := t.tx.SendBatch(ctx, b)
	for _, what := range whats {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	if last == nil {
		return nil, br.Close()
	}
	return br, nil
}

// insertedID is the notification id of a queued insert (its first argument), "" for other writes.
func insertedID(w *queuedWrite) string {
	if w.what != "insert notification" || len(w.args) == 0 {
		return ""
	}
	id, _ := w.args[0].(string)
	return id
}

// flush sends the queued writes.
func (t *txStore) flush(ctx context.Context) error {
	_, err := t.send(ctx, sendAll, nil)
	return err
}

// queryRow is QueryRow after the queued writes, in the same round trip.
func (t *txStore) queryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return t.queryRowAfter(ctx, sendAll, sql, args...)
}

// queryRowAfter is queryRow after the queued writes keep does not keep back.
func (t *txStore) queryRowAfter(ctx context.Context, keep func(*queuedWrite) bool, sql string, args ...any) pgx.Row {
	if len(t.queue) == 0 {
		return t.tx.QueryRow(ctx, sql, args...)
	}
	return pipelinedRow{t: t, ctx: ctx, keep: keep, sql: sql, args: args}
}

type pipelinedRow struct {
	t    *txStore
	ctx  context.Context
	keep func(*queuedWrite) bool
	sql  string
	args []any
}

func (r pipelinedRow) Scan(dest ...any) error {
	br, err := r.t.send(r.ctx, r.keep, func(b *pgx.Batch) { b.Queue(r.sql, r.args...) })
	if err != nil {
		return err
	}
	err = br.QueryRow().Scan(dest...)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// exec is Exec, for a write whose outcome is read, after the queued writes in the same round trip.
func (t *txStore) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if len(t.queue) == 0 {
		return t.tx.Exec(ctx, sql, args...)
	}
	br, err := t.send(ctx, sendAll, func(b *pgx.Batch) { b.Queue(sql, args...) })
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// query is Query after the queued writes (sent first, in a round trip of their own).
func (t *txStore) query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	return t.tx.Query(ctx, sql, args...)
}

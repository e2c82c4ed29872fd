package notificationdb

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/platform/telemetry"
	"github.com/parleyhq/parley/services/notification/internal/notification"
)

// The email delivery outbox: QueueEmail writes a delivery in the use case's transaction; the
// dispatcher claims due ones with a lease and records each outcome.

// ClaimDeliveries implements notification.Store. The claim is its own committed statement, so the
// lease is on record before any SMTP conversation starts.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]notification.Delivery, error) {
	scan := func(r pgx.Row) (notification.Delivery, error) {
		var d notification.Delivery
		err := r.Scan(&d.ID, &d.DedupKey, &d.UserID, &d.Kind, &d.To, &d.ToName, &d.MessageID,
			&d.Subject, &d.Text, &d.HTML, &d.CreatedAt, &d.Attempt)
		d.CreatedAt = d.CreatedAt.UTC()
		return d, err
	}
	return claim(ctx, s.pool, "email deliveries", scan, claimDue("email_deliveries")+`
		RETURNING delivery_id::text, dedup_key, user_id::text, kind, to_address, to_name, message_id,
			subject, text_body, html_body, created_at, attempts`, now, lease, limit)
}

// claimDue is the statement that claims up to $3 rows of a delivery outbox (email_deliveries,
// push_deliveries) due at $1 — pending, or sending with an ended lease — leasing them until $2:
// SKIP LOCKED, so replicas claiming at once share out the rows; each claim counts an attempt. The
// caller appends what it returns.
func claimDue(table string) string {
	return `
		UPDATE ` + table + ` SET state = 'sending', attempts = attempts + 1, next_attempt_at = $2
		WHERE delivery_id IN (
			SELECT delivery_id FROM ` + table + `
			WHERE state IN ('pending', 'sending') AND next_attempt_at <= $1
			ORDER BY next_attempt_at
			LIMIT $3
			FOR UPDATE SKIP LOCKED)`
}

// claim runs a claim statement built on claimDue and reads the rows it returns with scan; what
// names them in the error.
func claim[T any](ctx context.Context, q pg.Querier, what string, scan func(pgx.Row) (T, error), sql string,
	now time.Time, lease time.Duration, limit int) ([]T, error) {
	ds, err := pg.QueryAll(ctx, q, scan, sql, now, now.Add(lease), limit)
	if err != nil {
		return nil, fmt.Errorf("claim %s: %w", what, err)
	}
	return ds, nil
}

// FinishDelivery implements notification.Store. A finished delivery (sent or failed) keeps its
// subject but not its bodies: they may hold a password-reset or verification link, whose token
// auth itself keeps only hashed, and nothing reads them again.
func (s *Store) FinishDelivery(ctx context.Context, d notification.Delivery, out notification.DeliveryOutcome) error {
	var err error
	switch {
	case out.Sent:
		_, err = s.pool.Exec(ctx, `UPDATE email_deliveries SET state = 'sent', sent_at = now(), last_error = '', text_body = '', html_body = ''
			WHERE delivery_id = $1 AND attempts = $2 AND state = 'sending'`, d.ID, d.Attempt)
	case out.RetryAt != nil:
		_, err = s.pool.Exec(ctx, `UPDATE email_deliveries SET state = 'pending', next_attempt_at = $3, last_error = $4
			WHERE delivery_id = $1 AND attempts = $2 AND state = 'sending'`, d.ID, d.Attempt, *out.RetryAt, out.Err)
	default:
		_, err = s.pool.Exec(ctx, `UPDATE email_deliveries SET state = 'failed', last_error = $3, text_body = '', html_body = ''
			WHERE delivery_id = $1 AND attempts = $2 AND state = 'sending'`, d.ID, d.Attempt, out.Err)
	}
	if err != nil {
		return fmt.Errorf("record email delivery %s: %w", d.ID, err)
	}
	return nil
}

func (t *txStore) QueueEmail(ctx context.Context, e notification.Email) (bool, error) {
	tag, err := t.exec(ctx, `INSERT INTO email_deliveries (delivery_id, dedup_key, user_id, kind, to_address, to_name,
			message_id, subject, text_body, html_body, next_attempt_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
		ON CONFLICT (dedup_key) DO NOTHING`,
		e.ID, e.DedupKey, e.UserID, e.Kind, e.To, e.ToName, e.MessageID, e.Subject, e.Text, e.HTML, e.CreatedAt)
	if err != nil {
		return false, fmt.Errorf("queue email %s: %w", e.DedupKey, err)
	}
	return tag.RowsAffected() == 1, nil
}

// WatchEmailQueue publishes the email queue at each scrape: how many deliveries wait (pending) or
// are being sent (sending), and how long the oldest of them has waited — an SMTP relay that
// refuses or hangs shows here before anyone misses a mail. One statement over the queue's partial
// index answers both families (telemetry.WatchTogether).
func (s *Store) WatchEmailQueue(tel *telemetry.Telemetry) {
	tel.WatchTogether([]telemetry.Family{
		{Name: telemetry.MetricEmailQueue, Help: "Emails waiting to be sent (pending) and being sent (sending).", Labels: []string{"state"}},
		{Name: telemetry.MetricEmailOldest, Help: "How long the oldest unsent email has waited (0 when none waits)."},
	}, func(ctx context.Context) ([][]telemetry.Sample, error) {
		var pending, sending int64
		var age float64
		err := s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'sending'),
				coalesce(extract(epoch FROM clock_timestamp() - min(created_at)), 0)::float8
			FROM email_deliveries WHERE state IN ('pending', 'sending')`).Scan(&pending, &sending, &age)
		if err != nil {
			return nil, fmt.Errorf("read the email queue: %w", err)
		}
		return [][]telemetry.Sample{
			{{Value: float64(pending), Labels: []string{"pending"}}, {Value: float64(sending), Labels: []string{"sending"}}},
			{{Value: max(age, 0)}},
		}, nil
	})
}

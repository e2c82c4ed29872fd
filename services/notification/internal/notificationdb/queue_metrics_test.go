package notificationdb_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/parleyhq/parley/platform/telemetry"
)

// TestEmailQueueIsPublished: the email queue's gauges count what waits and how long the oldest
// has, at each scrape, and fall back once it is sent.
func TestEmailQueueIsPublished(t *testing.T) {
	e := newEnv(t)
	tel := telemetry.New("notification", nil)
	e.store.WatchEmailQueue(tel)
	if _, err := e.pool.Exec(e.ctx, `INSERT INTO email_deliveries (delivery_id, dedup_key, user_id, kind, to_address,
		message_id, subject, text_body, html_body, next_attempt_at, created_at)
		VALUES ($1, 'test:1', $2, 1, 'bob@example.com', '<1@parley.test>', 's', 't', 'h', now(), now() - interval '2 minutes')`,
		uuid.New(), uuid.New()); err != nil {
		t.Fatal(err)
	}
	read := func() (pending, oldest float64) {
		mfs, err := tel.Gatherer().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				switch mf.GetName() {
				case telemetry.MetricEmailQueue:
					for _, l := range m.GetLabel() {
						if l.GetName() == "state" && l.GetValue() == "pending" {
							pending = m.GetGauge().GetValue()
						}
					}
				case telemetry.MetricEmailOldest:
					oldest = m.GetGauge().GetValue()
				}
			}
		}
		return pending, oldest
	}
	if pending, oldest := read(); pending != 1 || oldest < 120 {
		t.Errorf("pending %v, oldest %vs; want 1 and ≥ 120", pending, oldest)
	}
	if _, err := e.pool.Exec(e.ctx, `UPDATE email_deliveries SET state = 'sent', sent_at = now()`); err != nil {
		t.Fatal(err)
	}
	if pending, oldest := read(); pending != 0 || oldest != 0 {
		t.Errorf("after sending: pending %v, oldest %v; want 0 and 0", pending, oldest)
	}
}

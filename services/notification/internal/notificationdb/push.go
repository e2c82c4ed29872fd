package notificationdb

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/encoding/protojson"

	notificationv1 "github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1"
	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/services/notification/internal/notification"
)

// The push channel: browsers' subscriptions, and the push outbox (push_deliveries), which
// QueuePush fills in the use case's transaction and the dispatcher claims and finishes as it does
// email_deliveries.

const subscriptionColumns = `subscription_id::text, user_id::text, endpoint, p256dh, auth, device_label, session_id, created_at, updated_at`

func scanSubscription(r pgx.Row) (notification.PushSubscription, error) {
	var s notification.PushSubscription
	err := r.Scan(&s.ID, &s.UserID, &s.Endpoint, &s.P256dh, &s.Auth, &s.DeviceLabel, &s.SessionID, &s.CreatedAt, &s.UpdatedAt)
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	return s, err
}

// PushSubscriptions implements notification.Store.
func (s *Store) PushSubscriptions(ctx context.Context, userID string) ([]notification.PushSubscription, error) {
	subs, err := pg.QueryAll(ctx, s.pool, scanSubscription, `SELECT `+subscriptionColumns+` FROM push_subscriptions
		WHERE user_id = $1 ORDER BY updated_at DESC, subscription_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list push subscriptions: %w", err)
	}
	return subs, nil
}

// SavePushSubscription implements notification.Tx. An endpoint another user registered is theirs
// no more: that row goes (and, by cascade, the pushes queued for them) before the caller's is
// written, so nothing of theirs reaches the browser now in the caller's hands.
func (t *txStore) SavePushSubscription(ctx context.Context, sub notification.PushSubscription, limit int) (notification.PushSubscription, error) {
	t.later("take push endpoint over", `DELETE FROM push_subscriptions WHERE endpoint = $1 AND user_id <> $2`, sub.Endpoint, sub.UserID)
	saved, err := scanSubscription(t.queryRow(ctx, `INSERT INTO push_subscriptions (subscription_id, user_id, endpoint, p256dh, auth,
			device_label, session_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
		ON CONFLICT (endpoint) DO UPDATE SET p256dh = excluded.p256dh, auth = excluded.auth,
			device_label = excluded.device_label, session_id = excluded.session_id, updated_at = excluded.updated_at
		RETURNING `+subscriptionColumns,
		sub.ID, sub.UserID, sub.Endpoint, sub.P256dh, sub.Auth, sub.DeviceLabel, sub.SessionID, sub.CreatedAt))
	if err != nil {
		return saved, fmt.Errorf("save push subscription: %w", err)
	}
	// The caller holds the user's lock, so the count cannot race another registration.
	t.later("keep the newest push subscriptions", `DELETE FROM push_subscriptions WHERE subscription_id IN (
			SELECT subscription_id FROM push_subscriptions WHERE user_id = $1
			ORDER BY updated_at DESC, subscription_id OFFSET $2)`, sub.UserID, limit)
	return saved, nil
}

// RemovePushSubscription implements notification.Tx.
func (t *txStore) RemovePushSubscription(_ context.Context, userID, id string) error {
	t.later("remove push subscription", `DELETE FROM push_subscriptions WHERE subscription_id = $1 AND user_id = $2`, id, userID)
	return nil
}

// RemoveSessionPushSubscriptions implements notification.Tx.
func (t *txStore) RemoveSessionPushSubscriptions(_ context.Context, userID, sessionID string) error {
	t.later("remove the session's push subscriptions", `DELETE FROM push_subscriptions WHERE user_id = $1 AND session_id = $2`,
		userID, sessionID)
	return nil
}

// QueuePush implements notification.Tx: two queued writes, no round trip of their own.
func (t *txStore) QueuePush(_ context.Context, p notification.QueuedPush) error {
	payload, err := protojson.Marshal(&notificationv1.PushPayload{
		Kind: notificationv1.NotificationKind(p.Payload.Kind), Title: p.Payload.Title, Body: p.Payload.Body,
		ActorNickname: p.Payload.ActorNickname, ChatId: p.Payload.ChatID, SubjectId: p.Payload.SubjectID,
		Count: p.Payload.Count, Url: p.Payload.URL, Tag: p.Payload.Tag,
	})
	if err != nil {
		return fmt.Errorf("encode push payload: %w", err)
	}
	if p.Topic != "" {
		t.later("replace unsent pushes of the topic", `DELETE FROM push_deliveries
			WHERE user_id = $1 AND topic = $2 AND state = 'pending' AND topic <> ''`, p.UserID, p.Topic)
	}
	t.later("queue push", `INSERT INTO push_deliveries (delivery_id, subscription_id, dedup_key, user_id, actor_user_id,
			kind, topic, urgency, payload, next_attempt_at, created_at)
		SELECT gen_random_uuid(), subscription_id, $1, user_id, $2, $3, $4, $5, $6, $7, $7
		FROM push_subscriptions WHERE user_id = $8
		ON CONFLICT (dedup_key, subscription_id) DO NOTHING`,
		p.DedupKey, p.ActorUserID, p.Kind, p.Topic, p.Urgency, payload, p.CreatedAt, p.UserID)
	return nil
}

// ClaimPushes implements notification.Store, as ClaimDeliveries does for emails.
func (s *Store) ClaimPushes(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]notification.PushDelivery, error) {
	scan := func(r pgx.Row) (notification.PushDelivery, error) {
		var d notification.PushDelivery
		err := r.Scan(&d.ID, &d.SubscriptionID, &d.UserID, &d.Kind, &d.Endpoint, &d.P256dh, &d.Auth, &d.Payload,
			&d.Topic, &d.Urgency, &d.CreatedAt, &d.Attempt)
		d.CreatedAt = d.CreatedAt.UTC()
		return d, err
	}
	return claim(ctx, s.pool, "pushes", scan, `WITH claimed AS (`+claimDue("push_deliveries")+` RETURNING *)
		SELECT c.delivery_id::text, c.subscription_id::text, c.user_id::text, c.kind, s.endpoint, s.p256dh, s.auth, c.payload,
			c.topic, c.urgency, c.created_at, c.attempts
		FROM claimed c JOIN push_subscriptions s USING (subscription_id)`, now, lease, limit)
}

// FinishPush implements notification.Store. A finished push keeps its row (the dedup key) but not
// its payload.
func (s *Store) FinishPush(ctx context.Context, d notification.PushDelivery, out notification.PushOutcome) error {
	var err error
	// attempts counts requests made: a claim given back untried does not count.
	const fence = `, attempts = attempts - $3 WHERE delivery_id = $1 AND attempts = $2 AND state = 'sending'`
	untried := 0
	if out.Unattempted {
		untried = 1
	}
	switch {
	case out.Gone:
		_, err = s.pool.Exec(ctx, `DELETE FROM push_subscriptions WHERE subscription_id = $1`, d.SubscriptionID)
	case out.Sent:
		_, err = s.pool.Exec(ctx, `UPDATE push_deliveries SET state = 'sent', sent_at = now(), last_error = '', payload = ''`+fence,
			d.ID, d.Attempt, untried)
	case out.Skipped:
		_, err = s.pool.Exec(ctx, `UPDATE push_deliveries SET state = 'skipped', payload = ''`+fence, d.ID, d.Attempt, untried)
	case out.RetryAt != nil:
		_, err = s.pool.Exec(ctx, `UPDATE push_deliveries SET state = 'pending', next_attempt_at = $4, last_error = $5`+fence,
			d.ID, d.Attempt, untried, *out.RetryAt, out.Err)
	default:
		_, err = s.pool.Exec(ctx, `UPDATE push_deliveries SET state = 'failed', last_error = $4, payload = ''`+fence,
			d.ID, d.Attempt, untried, out.Err)
	}
	if err != nil {
		return fmt.Errorf("record push %s: %w", d.ID, err)
	}
	return nil
}

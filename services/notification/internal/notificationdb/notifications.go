package notificationdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/services/notification/internal/notification"
)

// The in-app notifications: listing, unread counts, inserts, deletes and read marks; the record of
// resolved friend requests; Notify's idempotency keys; and the NotificationSent event, written to
// the outbox in the notification's transaction.

const notificationColumns = `notification_id::text, user_id::text, kind, title, body, subject_id, actor_user_id,
	count, created_at, read_at, coalesce(collapse_key, ''), last_seq`

func scanNotification(row pgx.Row) (notification.Notification, error) {
	var n notification.Notification
	err := row.Scan(&n.ID, &n.UserID, &n.Kind, &n.Title, &n.Body, &n.SubjectID, &n.ActorUserID,
		&n.Count, &n.CreatedAt, &n.ReadAt, &n.CollapseKey, &n.LastSeq)
	n.CreatedAt = n.CreatedAt.UTC()
	if n.ReadAt != nil {
		t := n.ReadAt.UTC()
		n.ReadAt = &t
	}
	return n, err
}

// List implements notification.Store.
func (s *Store) List(ctx context.Context, q notification.ListQuery) ([]notification.Notification, error) {
	sql := `SELECT ` + notificationColumns + ` FROM notifications WHERE user_id = $1`
	args := []any{q.UserID, q.Limit}
	if q.UnreadOnly {
		sql += ` AND read_at IS NULL`
	}
	if q.After != nil {
		sql += ` AND (created_at, notification_id) < ($3, $4)`
		args = append(args, q.After.CreatedAt, q.After.ID)
	}
	sql += ` ORDER BY created_at DESC, notification_id DESC LIMIT $2`
	ns, err := pg.QueryAll(ctx, s.pool, scanNotification, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	return ns, nil
}

// UnreadCount implements notification.Store.
func (s *Store) UnreadCount(ctx context.Context, userID string) (int64, error) {
	return unreadCount(ctx, s.pool.QueryRow, userID)
}

func unreadCount(ctx context.Context, queryRow queryRowFunc, userID string) (int64, error) {
	var n int64
	if err := queryRow(ctx, `SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count unread notifications: %w", err)
	}
	return n, nil
}

func (t *txStore) DeleteNotification(_ context.Context, id string) error {
	owner := ""
	for k, mc := range t.contexts {
		if mc.Unread != nil && mc.Unread.ID == id {
			owner = k.recipient
			mc.Unread = nil
			t.contexts[k] = mc
		}
	}
	if w, ok := t.inserted[id]; ok {
		// Inserted by this transaction and not sent yet: neither is ever sent.
		w.dropped = true
		delete(t.inserted, id)
		return nil
	}
	t.laterFor(owner, "delete notification "+id, `DELETE FROM notifications WHERE notification_id = $1`, id)
	return nil
}

func (t *txStore) InsertNotification(_ context.Context, n notification.Notification) error {
	if n.CollapseKey != "" && n.ReadAt == nil {
		for k, mc := range t.contexts {
			if k.recipient == n.UserID && k.collapseKey == n.CollapseKey {
				mc.Unread = &notification.Notification{ID: n.ID, UserID: n.UserID, Kind: n.Kind, Count: n.Count,
					CollapseKey: n.CollapseKey, LastSeq: n.LastSeq}
				t.contexts[k] = mc
			}
		}
	}
	w := t.laterFor(n.UserID, "insert notification", `INSERT INTO notifications (notification_id, user_id, kind, title, body, subject_id,
			actor_user_id, count, collapse_key, last_seq, created_at, read_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''), $10, $11, $12)`,
		n.ID, n.UserID, n.Kind, n.Title, n.Body, n.SubjectID, n.ActorUserID, n.Count, n.CollapseKey, n.LastSeq, n.CreatedAt, n.ReadAt)
	if t.inserted != nil {
		t.inserted[n.ID] = w
	}
	return nil
}

func (t *txStore) Notification(ctx context.Context, userID, id string) (*notification.Notification, error) {
	n, err := scanNotification(t.queryRowAfter(ctx, about(userID), `SELECT `+notificationColumns+` FROM notifications
		WHERE user_id = $1 AND notification_id = $2`, userID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load notification %s: %w", id, err)
	}
	return &n, nil
}

func (t *txStore) MarkRead(_ context.Context, userID string, ids []string, now time.Time) error {
	t.forget() // may change what MessageContext answered
	if ids == nil {
		t.laterFor(userID, "mark notifications read", `UPDATE notifications SET read_at = $2
			WHERE user_id = $1 AND read_at IS NULL AND created_at <= $2`, userID, now)
		return nil
	}
	t.laterFor(userID, "mark notifications read", `UPDATE notifications SET read_at = $3
		WHERE user_id = $1 AND read_at IS NULL AND notification_id = ANY($2::uuid[])`, userID, ids, now)
	return nil
}

func (t *txStore) MarkCollapsedRead(_ context.Context, userID, key string, upToSeq int64, now time.Time) error {
	t.forget() // may change what MessageContext answered
	t.laterFor(userID, "mark "+key+" read", `UPDATE notifications SET read_at = $4
		WHERE user_id = $1 AND collapse_key = $2 AND read_at IS NULL AND last_seq <= $3`, userID, key, upToSeq, now)
	return nil
}

func (t *txStore) MarkSubjectRead(_ context.Context, userID string, kind notification.Kind, subjectID string, now time.Time) error {
	t.forget() // may change what MessageContext answered
	// Notifications that collapse (a chat's MESSAGE one) are never marked by subject; saying so
	// lets the statement use the partial index that leaves them out.
	t.laterFor(userID, "mark "+kind.Name()+" notifications about "+subjectID+" read", `UPDATE notifications SET read_at = $4
		WHERE user_id = $1 AND kind = $2 AND subject_id = $3 AND read_at IS NULL AND collapse_key IS NULL`, userID, kind, subjectID, now)
	return nil
}

func (t *txStore) ResolveFriendRequest(_ context.Context, requestID string, now time.Time) error {
	t.later("record friend request "+requestID+" resolved", `INSERT INTO resolved_friend_requests (request_id, resolved_at) VALUES ($1, $2)
		ON CONFLICT (request_id) DO NOTHING`, requestID, now)
	return nil
}

func (t *txStore) FriendRequestResolved(ctx context.Context, requestID string) (bool, error) {
	var resolved bool
	err := t.queryRowAfter(ctx, notNotifications, `SELECT EXISTS (SELECT 1 FROM resolved_friend_requests WHERE request_id = $1)`, requestID).Scan(&resolved)
	if err != nil {
		return false, fmt.Errorf("read whether friend request %s is resolved: %w", requestID, err)
	}
	return resolved, nil
}

func (t *txStore) UnreadCount(ctx context.Context, userID string) (int64, error) {
	return unreadCount(ctx, func(ctx context.Context, sql string, args ...any) pgx.Row {
		return t.queryRowAfter(ctx, about(userID), sql, args...)
	}, userID)
}

func (t *txStore) PublishSent(ctx context.Context, n notification.Notification, unread int64) error {
	ev := &eventsv1.NotificationSent{
		NotificationId: n.ID,
		UserId:         n.UserID,
		Kind:           n.Kind.Name(),
		Title:          n.Title,
		Body:           n.Body,
		UnreadCount:    unread,
		CreatedAt:      timestamppb.New(n.CreatedAt),
		SubjectId:      n.SubjectID,
	}
	// The outbox insert is queued like the other writes (t.Exec).
	if _, err := t.outbox.Publish(ctx, t, topics.Notification, n.UserID, ev); err != nil {
		return fmt.Errorf("publish NotificationSent: %w", err)
	}
	return nil
}

func (t *txStore) NotifyResult(ctx context.Context, userID, key string) (notification.StoredNotify, bool, error) {
	var res notification.StoredNotify
	err := t.queryRow(ctx, `SELECT coalesce(notification_id::text, ''), email_queued FROM notify_requests
		WHERE user_id = $1 AND idempotency_key = $2`, userID, key).Scan(&res.NotificationID, &res.EmailQueued)
	if errors.Is(err, pgx.ErrNoRows) {
		return res, false, nil
	}
	if err != nil {
		return res, false, fmt.Errorf("look up idempotency key: %w", err)
	}
	return res, true, nil
}

func (t *txStore) SaveNotifyResult(_ context.Context, userID, key string, res notification.StoredNotify, now time.Time) error {
	t.later("save idempotency key", `INSERT INTO notify_requests (user_id, idempotency_key, notification_id, email_queued, created_at)
		VALUES ($1, $2, nullif($3, '')::uuid, $4, $5)`, userID, key, res.NotificationID, res.EmailQueued, now)
	return nil
}

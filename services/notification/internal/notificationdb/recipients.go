package notificationdb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/services/notification/internal/notification"
)

// Recipients: the per-user locks (LockRecipients), the copies of email and nickname kept
// from auth and profile events, and MessageContext, which reads them with the preferences.

// recipientLockClass is the first key of the per-user advisory locks (LockRecipients), apart from
// other advisory locks on the database.
const recipientLockClass int32 = 7_301_085

func (t *txStore) LockRecipients(_ context.Context, userIDs ...string) error {
	ids := slices.DeleteFunc(slices.Clone(userIDs), func(id string) bool { return t.locked[id] })
	if len(ids) == 0 {
		return nil // held since an earlier event of this transaction
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if t.locked != nil {
		for _, id := range ids {
			t.locked[id] = true
		}
	}
	// A deleted user gets no row back (their lock is still taken).
	t.later("create recipients", `INSERT INTO recipients (user_id)
		SELECT id FROM unnest($1::uuid[]) AS id WHERE NOT EXISTS (SELECT 1 FROM deleted_users d WHERE d.user_id = id) ORDER BY id
		ON CONFLICT (user_id) DO NOTHING`, pg.UUIDs(ids))
	// An advisory lock per user, taken in id order (no deadlocks), rather than the rows' lock:
	// locking a row writes it (and the WAL) on every event. Queued like a write: the locks are
	// held before any statement after it runs.
	t.later("lock recipients", `SELECT pg_advisory_xact_lock($1, hashtext(id)) FROM unnest($2::text[]) AS u(id)`, recipientLockClass, ids)
	return nil
}

func (t *txStore) Recipient(ctx context.Context, userID string) (notification.Recipient, error) {
	r := notification.Recipient{UserID: userID}
	err := t.queryRowAfter(ctx, notNotifications, `SELECT email, nickname FROM recipients WHERE user_id = $1`, userID).Scan(&r.Email, &r.Nickname)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("load recipient %s: %w", userID, err)
	}
	return r, nil
}

func (t *txStore) SaveRegistration(_ context.Context, r notification.Recipient) error {
	t.forget() // may change what MessageContext answered
	t.later("save registration of "+r.UserID, `INSERT INTO recipients (user_id, email, nickname) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET email = excluded.email,
			nickname = CASE WHEN recipients.profile_version = 0 THEN excluded.nickname ELSE recipients.nickname END`,
		r.UserID, r.Email, r.Nickname)
	return nil
}

func (t *txStore) SaveEmail(_ context.Context, userID, email string) error {
	t.forget() // may change what MessageContext answered
	t.later("save email of "+userID, `INSERT INTO recipients (user_id, email) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET email = excluded.email`, userID, email)
	return nil
}

func (t *txStore) SaveNickname(_ context.Context, userID, nickname string, version int64) error {
	t.forget() // may change what MessageContext answered
	t.later("save nickname of "+userID, `INSERT INTO recipients (user_id, nickname, profile_version) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET nickname = excluded.nickname, profile_version = excluded.profile_version
		WHERE recipients.profile_version < excluded.profile_version`, userID, nickname, version)
	return nil
}

// MessageContext implements notification.Tx: the recipient's preferences and row, the sender's
// row and the recipient's unread notification with the collapse key, in one statement.
func (t *txStore) MessageContext(ctx context.Context, recipientID, senderID, collapseKey string, now time.Time) (notification.MessageContext, error) {
	if t.deleted[recipientID] || t.deleted[senderID] {
		return notification.MessageContext{Deleted: true}, nil
	}
	key := contextKey{recipientID, senderID, collapseKey}
	if mc, ok := t.contexts[key]; ok {
		mc.Prefs.MutedChats = slices.DeleteFunc(slices.Clone(mc.Prefs.MutedChats), func(m notification.MutedChat) bool {
			return m.Until != nil && !m.Until.After(now) // ran out since it was read
		})
		return mc, nil
	}
	mc, err := t.readMessageContext(ctx, recipientID, senderID, collapseKey, now)
	if err == nil && t.contexts != nil {
		t.contexts[key] = mc
	}
	return mc, err
}

func (t *txStore) readMessageContext(ctx context.Context, recipientID, senderID, collapseKey string, now time.Time) (notification.MessageContext, error) {
	mc := notification.MessageContext{Recipient: notification.Recipient{UserID: recipientID}, Sender: notification.Recipient{UserID: senderID}}
	var sp scannedPreferences
	var unreadID *string
	var unreadCount *int32
	var unreadSeq *int64
	err := t.queryRowAfter(ctx, about(recipientID), `SELECT `+preferencesColumns+`,
			coalesce(r.email, ''), coalesce(r.nickname, ''), coalesce(s.email, ''), coalesce(s.nickname, ''),
			n.notification_id::text, n.count, n.last_seq,
			EXISTS (SELECT 1 FROM deleted_users d WHERE d.user_id IN ($1::uuid, $3::uuid)),
			EXISTS (SELECT 1 FROM push_subscriptions p WHERE p.user_id = u.user_id)`+preferencesFrom+`
		LEFT JOIN recipients s ON s.user_id = $3
		LEFT JOIN notifications n ON n.user_id = u.user_id AND n.collapse_key = $4 AND n.read_at IS NULL`,
		recipientID, now, senderID, collapseKey).
		Scan(append(sp.dest(), &mc.Recipient.Email, &mc.Recipient.Nickname, &mc.Sender.Email, &mc.Sender.Nickname,
			&unreadID, &unreadCount, &unreadSeq, &mc.Deleted, &mc.PushDevices)...)
	if err != nil {
		return mc, fmt.Errorf("load what a message notification needs: %w", err)
	}
	if mc.Deleted {
		return notification.MessageContext{Deleted: true}, nil
	}
	if t.deleted != nil { // neither is deleted, and LockDeletions keeps it so until the end
		t.deleted[recipientID], t.deleted[senderID] = false, false
	}
	mc.Prefs = sp.preferences()
	if unreadID != nil {
		mc.Unread = &notification.Notification{ID: *unreadID, UserID: recipientID, Kind: notification.KindMessage,
			Count: *unreadCount, CollapseKey: collapseKey, LastSeq: *unreadSeq}
	}
	return mc, nil
}

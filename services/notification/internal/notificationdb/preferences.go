package notificationdb

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/services/notification/internal/notification"
)

// Preferences: the master email switch, per-kind channels and muted chats.

// Preferences implements notification.Store.
func (s *Store) Preferences(ctx context.Context, userID string, now time.Time) (notification.Preferences, error) {
	return preferences(ctx, s.pool.QueryRow, userID, now)
}

// preferencesFrom is the part of a statement that reads a user's preferences: the master switch
// (NULL for a user never seen), the kinds set (as parallel arrays, in kind order) and the mutes
// in force at $2, for the user u.user_id, with their recipients row as r.
const preferencesFrom = `
FROM (SELECT $1::uuid AS user_id) u
LEFT JOIN recipients r ON r.user_id = u.user_id
LEFT JOIN LATERAL (
    SELECT array_agg(kind ORDER BY kind) AS kinds, array_agg(in_app ORDER BY kind) AS in_app, array_agg(email ORDER BY kind) AS email
    FROM kind_preferences WHERE user_id = u.user_id) k ON true
LEFT JOIN LATERAL (
    SELECT array_agg(chat_id::text ORDER BY chat_id) AS chats, array_agg(until ORDER BY chat_id) AS untils
    FROM muted_chats WHERE user_id = u.user_id AND (until IS NULL OR until > $2)) m ON true`

const preferencesColumns = `r.email_enabled, r.push_enabled, r.push_previews, r.prefs_updated_at,
       coalesce(k.kinds, '{}'), coalesce(k.in_app, '{}'), coalesce(k.email, '{}'),
       coalesce(m.chats, '{}'), coalesce(m.untils, '{}')`

// scannedPreferences receives preferencesColumns.
type scannedPreferences struct {
	emailEnabled *bool
	pushEnabled  *bool
	pushPreviews *bool
	updatedAt    *time.Time
	kinds        []int32
	inApp, email []bool
	chats        []string
	untils       []*time.Time
}

func (sp *scannedPreferences) dest() []any {
	return []any{&sp.emailEnabled, &sp.pushEnabled, &sp.pushPreviews, &sp.updatedAt, &sp.kinds, &sp.inApp, &sp.email, &sp.chats, &sp.untils}
}

func (sp *scannedPreferences) preferences() notification.Preferences {
	p := notification.DefaultPreferences()
	if sp.emailEnabled != nil {
		p.EmailEnabled = *sp.emailEnabled
	}
	if sp.pushEnabled != nil {
		p.PushEnabled = *sp.pushEnabled
	}
	if sp.pushPreviews != nil {
		p.PushPreviews = *sp.pushPreviews
	}
	if sp.updatedAt != nil {
		t := sp.updatedAt.UTC()
		p.UpdatedAt = &t
	}
	for i, k := range sp.kinds {
		kp := notification.KindPreference{Kind: notification.Kind(k), InApp: sp.inApp[i], Email: sp.email[i]}
		if j := slices.IndexFunc(p.Kinds, func(d notification.KindPreference) bool { return d.Kind == kp.Kind }); j >= 0 {
			p.Kinds[j] = kp
		}
	}
	for i, c := range sp.chats {
		m := notification.MutedChat{ChatID: c}
		if sp.untils[i] != nil {
			t := sp.untils[i].UTC()
			m.Until = &t
		}
		p.MutedChats = append(p.MutedChats, m)
	}
	return p
}

// preferences reads a user's preferences in one statement.
func preferences(ctx context.Context, queryRow queryRowFunc, userID string, now time.Time) (notification.Preferences, error) {
	var sp scannedPreferences
	if err := queryRow(ctx, `SELECT `+preferencesColumns+preferencesFrom, userID, now).Scan(sp.dest()...); err != nil {
		return notification.DefaultPreferences(), fmt.Errorf("load preferences: %w", err)
	}
	return sp.preferences(), nil
}

func (t *txStore) Preferences(ctx context.Context, userID string, now time.Time) (notification.Preferences, error) {
	return preferences(ctx, func(ctx context.Context, sql string, args ...any) pgx.Row {
		return t.queryRowAfter(ctx, notNotifications, sql, args...)
	}, userID, now)
}

func (t *txStore) UpdatePreferences(_ context.Context, userID string, c notification.PreferenceChanges, now time.Time) error {
	t.forget() // may change what MessageContext answered
	t.later("update preferences", `UPDATE recipients SET email_enabled = coalesce($2, email_enabled),
			push_enabled = coalesce($4, push_enabled), push_previews = coalesce($5, push_previews), prefs_updated_at = $3
		WHERE user_id = $1`, userID, c.EmailEnabled, now, c.PushEnabled, c.PushPreviews)
	for _, kp := range c.Kinds {
		t.later("update preference for "+kp.Kind.Name(), `INSERT INTO kind_preferences (user_id, kind, in_app, email) VALUES ($1, $2, $3, $4)
			ON CONFLICT (user_id, kind) DO UPDATE SET in_app = excluded.in_app, email = excluded.email`,
			userID, kp.Kind, kp.InApp, kp.Email)
	}
	return nil
}

func (t *txStore) Mute(_ context.Context, userID string, m notification.MutedChat) error {
	t.forget() // may change what MessageContext answered
	t.later("mute chat "+m.ChatID, `INSERT INTO muted_chats (user_id, chat_id, until) VALUES ($1, $2, $3)
		ON CONFLICT (user_id, chat_id) DO UPDATE SET until = excluded.until`, userID, m.ChatID, m.Until)
	return nil
}

func (t *txStore) Unmute(_ context.Context, userID, chatID string) error {
	t.forget() // may change what MessageContext answered
	t.later("unmute chat "+chatID, `DELETE FROM muted_chats WHERE user_id = $1 AND chat_id = $2`, userID, chatID)
	return nil
}

func (t *txStore) IsMuted(ctx context.Context, userID, chatID string, now time.Time) (bool, error) {
	var muted bool
	err := t.queryRowAfter(ctx, notNotifications, `SELECT EXISTS (SELECT 1 FROM muted_chats
		WHERE user_id = $1 AND chat_id = $2 AND (until IS NULL OR until > $3))`, userID, chatID, now).Scan(&muted)
	if err != nil {
		return false, fmt.Errorf("look up mute of chat %s: %w", chatID, err)
	}
	return muted, nil
}

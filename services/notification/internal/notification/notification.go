// Package notification is the notification service's domain: what a notification is, who gets
// one and through which channel (preferences, mutes, presence), the in-app list, and the email
// channel — immediate emails, per-chat digests of missed messages, and their delivery outbox.
// Storage is behind Store and Tx (notificationdb implements them), presence behind Presence
// (Redis), SMTP behind Mailer.
package notification

import (
	"slices"
	"time"
)

// Notification is one entry of a user's notification list.
type Notification struct {
	ID          string
	UserID      string
	Kind        Kind
	Title       string
	Body        string
	SubjectID   string
	ActorUserID string
	// Count is how many events it stands for (at least 1): the messages of a collapsed MESSAGE
	// notification.
	Count     int32
	CreatedAt time.Time
	ReadAt    *time.Time
	// CollapseKey, when set, makes a new notification with the same key replace an unread one:
	// "chat:<chat id>" for message notifications. Internal; not in the API.
	CollapseKey string
	// LastSeq is the highest message sequence number a message notification stands for, so a
	// MessagesRead up to it marks it read. Internal.
	LastSeq int64
}

// KindPreference is how one kind of notification reaches a user.
type KindPreference struct {
	Kind  Kind
	InApp bool
	Email bool
}

// MutedChat is a chat whose message notifications are silenced; Until nil mutes for good.
type MutedChat struct {
	ChatID string
	Until  *time.Time
}

// Preferences are a user's notification settings.
type Preferences struct {
	EmailEnabled bool
	// PushEnabled is the push master switch (default on): what is stored in the app is pushed to
	// the user's devices while they are away.
	PushEnabled bool
	// PushPreviews puts notification bodies (message text) in pushes (default off).
	PushPreviews bool
	// Kinds holds one entry per known kind, in enum order.
	Kinds      []KindPreference
	MutedChats []MutedChat
	// UpdatedAt is nil while the preferences are the defaults.
	UpdatedAt *time.Time
}

// DefaultPreferences are the preferences of a user who never changed them.
func DefaultPreferences() Preferences {
	p := Preferences{EmailEnabled: true, PushEnabled: true}
	for _, k := range Kinds {
		p.Kinds = append(p.Kinds, DefaultKindPreference(k))
	}
	return p
}

// For returns the preference for k (the default when k is not listed).
func (p Preferences) For(k Kind) KindPreference {
	if i := slices.IndexFunc(p.Kinds, func(kp KindPreference) bool { return kp.Kind == k }); i >= 0 {
		return p.Kinds[i]
	}
	return DefaultKindPreference(k)
}

// EmailFor reports whether k may be emailed: the master switch and the kind's email switch.
func (p Preferences) EmailFor(k Kind) bool { return p.EmailEnabled && p.For(k).Email }

// Muted reports whether chatID is among the mutes (which the store reads as in force when the
// preferences were loaded).
func (p Preferences) Muted(chatID string) bool {
	return slices.ContainsFunc(p.MutedChats, func(m MutedChat) bool { return m.ChatID == chatID })
}

// PreferenceChanges are an UpdatePreferences request: nil and absent kinds are kept.
type PreferenceChanges struct {
	EmailEnabled *bool
	PushEnabled  *bool
	PushPreviews *bool
	Kinds        []KindPreference
}

// Recipient is what the service knows about a person: the email address from UserRegistered and
// the nickname from ProfileUpdated (or UserRegistered until the profile exists).
type Recipient struct {
	UserID   string
	Email    string
	Nickname string
}

// Page is one page of a user's notifications.
type Page struct {
	Notifications []Notification
	NextPageToken string
	UnreadCount   int64
}

// ListQuery selects a page of notifications, newest first.
type ListQuery struct {
	UserID     string
	UnreadOnly bool
	Limit      int
	After      *Cursor
}

// NotifyRequest is a notification another service raises through Notify.
type NotifyRequest struct {
	UserID         string
	Kind           Kind
	Title          string
	Body           string
	SubjectID      string
	ActorUserID    string
	IdempotencyKey string
}

// NotifyResult is what Notify raised: the stored notification (nil when the user's preferences keep
// the kind out of the app) and whether an email was queued.
type NotifyResult struct {
	Notification *Notification
	EmailQueued  bool
}

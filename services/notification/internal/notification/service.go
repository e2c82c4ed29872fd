package notification

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/pagetoken"
	"github.com/parleyhq/parley/platform/validate"
)

// Config wires a Service.
type Config struct {
	Store  Store
	Emails *Emails
	// MessageIDDomain is the right-hand side of the Message-IDs of the emails (EMAIL_FROM's domain).
	MessageIDDomain string
	// DigestDelay is how long after the first unsent message a chat's digest email is due.
	DigestDelay time.Duration
	// Push turns the push channel on; nil leaves it off (no VAPID key configured).
	Push   *PushConfig
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service holds the notification use cases: the RPCs, and raising notifications from events.
type Service struct {
	store       Store
	emails      *Emails
	domain      string
	digestDelay time.Duration
	push        *PushConfig // nil: no push channel
	clock       func() time.Time
	logger      *slog.Logger
}

// NewService checks cfg and returns the service.
func NewService(cfg Config) (*Service, error) {
	switch {
	case cfg.Store == nil || cfg.Emails == nil || cfg.Logger == nil:
		return nil, errors.New("notification service: store, emails and logger are required")
	case cfg.MessageIDDomain == "":
		return nil, errors.New("notification service: no Message-ID domain")
	case cfg.DigestDelay <= 0:
		return nil, fmt.Errorf("notification service: digest delay %v must be positive", cfg.DigestDelay)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Push != nil {
		if cfg.Push.Pusher == nil {
			return nil, errors.New("notification service: push configured without a pusher")
		}
		p := *cfg.Push
		p.defaults()
		cfg.Push = &p
	}
	return &Service{store: cfg.Store, emails: cfg.Emails, domain: cfg.MessageIDDomain,
		digestDelay: cfg.DigestDelay, push: cfg.Push, clock: cfg.Now, logger: cfg.Logger}, nil
}

// now is the clock at Postgres' precision, so what is returned equals what is stored.
func (s *Service) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// List returns one page of userID's notifications, newest first, with the unread count.
func (s *Service) List(ctx context.Context, userID string, pageSize int32, pageToken string, unreadOnly bool) (Page, error) {
	n, err := validate.PageSize(pageSize, DefaultPageSize, MaxPageSize)
	if err != nil {
		return Page{}, err
	}
	after, err := DecodeCursor(unreadOnly, pageToken)
	if err != nil {
		return Page{}, err
	}
	ns, err := s.store.List(ctx, ListQuery{UserID: userID, UnreadOnly: unreadOnly, Limit: n + 1, After: after})
	if err != nil {
		return Page{}, err
	}
	var page Page
	page.Notifications, page.NextPageToken = pagetoken.Cut(ns, n, func(last Notification) string {
		return EncodeCursor(unreadOnly, Cursor{CreatedAt: last.CreatedAt, ID: last.ID})
	})
	if page.UnreadCount, err = s.store.UnreadCount(ctx, userID); err != nil {
		return Page{}, err
	}
	return page, nil
}

// MarkRead marks the given notifications of userID, or all of them, read and returns the unread
// count after. Unknown, foreign and already read ids are ignored.
func (s *Service) MarkRead(ctx context.Context, userID string, ids []string, all bool) (int64, error) {
	switch {
	case all && len(ids) > 0:
		return 0, domainerr.Errorf(domainerr.ErrInvalidArgument, "notification_ids, all: give notification_ids or all=true, not both")
	case !all && len(ids) == 0:
		return 0, domainerr.Errorf(domainerr.ErrInvalidArgument, "notification_ids, all: give the notification_ids to mark read, or all=true")
	}
	var norm []string // nil: all of them
	if !all {
		var err error
		if norm, err = validate.UUIDs("notification_ids", ids, MaxMarkIDs); err != nil {
			return 0, err
		}
	}
	var unread int64
	err := s.store.InTx(ctx, func(tx Tx) error {
		if err := tx.LockRecipients(ctx, userID); err != nil {
			return err
		}
		if err := tx.MarkRead(ctx, userID, norm, s.now()); err != nil {
			return err
		}
		var err error
		unread, err = tx.UnreadCount(ctx, userID)
		return err
	})
	return unread, err
}

// UnreadCount returns how many of userID's notifications are unread.
func (s *Service) UnreadCount(ctx context.Context, userID string) (int64, error) {
	return s.store.UnreadCount(ctx, userID)
}

// Preferences returns userID's preferences.
func (s *Service) Preferences(ctx context.Context, userID string) (Preferences, error) {
	return s.store.Preferences(ctx, userID, s.now())
}

// UpdatePreferences applies c to userID's preferences and returns the result. Every kind listed
// must be a known kind, listed once.
func (s *Service) UpdatePreferences(ctx context.Context, userID string, c PreferenceChanges) (Preferences, error) {
	seen := map[Kind]int{}
	for i, kp := range c.Kinds {
		field := "kinds[" + strconv.Itoa(i) + "].kind"
		if err := ValidateKind(field, kp.Kind); err != nil {
			return Preferences{}, err
		}
		if j, dup := seen[kp.Kind]; dup {
			return Preferences{}, domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: %s is listed twice (also kinds[%d])", field, kp.Kind, j)
		}
		seen[kp.Kind] = i
	}
	if c.EmailEnabled == nil && c.PushEnabled == nil && c.PushPreviews == nil && len(c.Kinds) == 0 {
		return s.Preferences(ctx, userID)
	}
	var out Preferences
	err := s.store.InTx(ctx, func(tx Tx) error {
		now := s.now()
		if err := tx.LockRecipients(ctx, userID); err != nil {
			return err
		}
		if err := tx.UpdatePreferences(ctx, userID, c, now); err != nil {
			return err
		}
		var err error
		out, err = tx.Preferences(ctx, userID, now)
		return err
	})
	return out, err
}

// MuteChat mutes chatID's message notifications for userID until until (nil: until unmuted).
func (s *Service) MuteChat(ctx context.Context, userID, chatID string, until *time.Time) (MutedChat, error) {
	id, err := validate.UUID("chat_id", chatID)
	if err != nil {
		return MutedChat{}, err
	}
	now := s.now()
	m := MutedChat{ChatID: id}
	if until != nil {
		u := until.UTC().Truncate(time.Microsecond)
		if !u.After(now) {
			return MutedChat{}, domainerr.Errorf(domainerr.ErrInvalidArgument, "until: must be in the future (leave it unset to mute until unmuted), got %s", u.Format(time.RFC3339))
		}
		m.Until = &u
	}
	err = s.store.InTx(ctx, func(tx Tx) error {
		if err := tx.LockRecipients(ctx, userID); err != nil {
			return err
		}
		return tx.Mute(ctx, userID, m)
	})
	return m, err
}

// UnmuteChat lifts userID's mute of chatID, if any.
func (s *Service) UnmuteChat(ctx context.Context, userID, chatID string) error {
	id, err := validate.UUID("chat_id", chatID)
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(tx Tx) error { return tx.Unmute(ctx, userID, id) })
}

// Notify raises a notification another service asked for, subject to the recipient's preferences
// for its kind (and, for a MESSAGE about a chat, the chat's mute). It is idempotent per recipient
// and idempotency key: a repeat returns the first call's result and raises nothing.
func (s *Service) Notify(ctx context.Context, r NotifyRequest) (NotifyResult, error) {
	r, err := validateNotify(r)
	if err != nil {
		return NotifyResult{}, err
	}
	var res NotifyResult
	err = s.store.InTx(ctx, func(tx Tx) error {
		var err error
		res, err = s.notifyOnce(ctx, tx, r)
		return err
	})
	if err != nil {
		return NotifyResult{}, err
	}
	return res, nil
}

// notifyOnce is Notify's work in tx, under the recipient's lock, which also serialises concurrent
// calls with the same key: the second finds the first's result and returns it.
func (s *Service) notifyOnce(ctx context.Context, tx Tx, r NotifyRequest) (NotifyResult, error) {
	if locked, err := lockUnlessDeleted(ctx, tx, []string{r.UserID}, r.UserID); err != nil {
		return NotifyResult{}, err
	} else if !locked {
		return NotifyResult{}, ErrUserDeleted
	}
	stored, found, err := tx.NotifyResult(ctx, r.UserID, r.IdempotencyKey)
	if err != nil {
		return NotifyResult{}, err
	}
	if found {
		res := NotifyResult{EmailQueued: stored.EmailQueued}
		if stored.NotificationID != "" {
			res.Notification, err = tx.Notification(ctx, r.UserID, stored.NotificationID)
		}
		return res, err
	}
	now := s.now()
	prefs, err := tx.Preferences(ctx, r.UserID, now)
	if err != nil {
		return NotifyResult{}, err
	}
	muted := false
	if r.Kind == KindMessage && r.SubjectID != "" {
		if chatID, err := validate.UUID("subject_id", r.SubjectID); err == nil {
			if muted, err = tx.IsMuted(ctx, r.UserID, chatID, now); err != nil {
				return NotifyResult{}, err
			}
		}
	}
	var res NotifyResult
	dedupKey := "notify:" + r.UserID + ":" + r.IdempotencyKey
	if !muted && prefs.For(r.Kind).InApp {
		n := Notification{ID: newID(), UserID: r.UserID, Kind: r.Kind, Title: r.Title, Body: r.Body,
			SubjectID: r.SubjectID, ActorUserID: r.ActorUserID, Count: 1, CreatedAt: now}
		if err := s.storeInApp(ctx, tx, n, ""); err != nil {
			return NotifyResult{}, err
		}
		res.Notification = &n
		if err := s.queuePush(ctx, tx, prefs, n, "", dedupKey); err != nil {
			return NotifyResult{}, err
		}
	}
	if !muted && prefs.EmailFor(r.Kind) {
		if res.EmailQueued, err = s.emailNotice(ctx, tx, r, dedupKey, now); err != nil {
			return NotifyResult{}, err
		}
	}
	stored = StoredNotify{EmailQueued: res.EmailQueued}
	if res.Notification != nil {
		stored.NotificationID = res.Notification.ID
	}
	return res, tx.SaveNotifyResult(ctx, r.UserID, r.IdempotencyKey, stored, now)
}

// emailNotice queues r as an email to its recipient, when they have an address; it reports
// whether it did.
func (s *Service) emailNotice(ctx context.Context, tx Tx, r NotifyRequest, dedupKey string, now time.Time) (bool, error) {
	to, err := tx.Recipient(ctx, r.UserID)
	if err != nil || to.Email == "" {
		return false, err
	}
	c, err := s.emails.Notice(to, r.Kind, r.Title, r.Body)
	if err != nil {
		return false, err
	}
	return s.queueEmail(ctx, tx, to, r.Kind, dedupKey, c, now)
}

// storeInApp stores n and publishes NotificationSent with the user's unread count — or, when n
// replaces an unread notification (replaces, a chat's collapsed MESSAGE notification), swaps it
// in without an event: the unread count is unchanged, and the chat's MessageSent, which every
// client of the user receives, already says a message came. Announcing each replacement was a
// third of a conversation's events, for a badge that does not move (docs/notification.md). The
// caller holds the user's lock.
func (s *Service) storeInApp(ctx context.Context, tx Tx, n Notification, replaces string) error {
	if replaces != "" {
		if err := tx.DeleteNotification(ctx, replaces); err != nil {
			return err
		}
		return tx.InsertNotification(ctx, n)
	}
	if err := tx.InsertNotification(ctx, n); err != nil {
		return err
	}
	unread, err := tx.UnreadCount(ctx, n.UserID)
	if err != nil {
		return err
	}
	return tx.PublishSent(ctx, n, unread)
}

// queueEmail puts an email to to in the delivery outbox; false when one with dedupKey was queued
// before.
func (s *Service) queueEmail(ctx context.Context, tx Tx, to Recipient, k Kind, dedupKey string, c EmailContent, now time.Time) (bool, error) {
	id := newID()
	return tx.QueueEmail(ctx, Email{
		ID: id, DedupKey: dedupKey, UserID: to.UserID, Kind: k, To: to.Email, ToName: to.Nickname,
		MessageID: id + "@" + s.domain, Subject: c.Subject, Text: c.Text, HTML: c.HTML, CreatedAt: now,
	})
}

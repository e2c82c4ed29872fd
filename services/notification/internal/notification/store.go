package notification

import (
	"context"
	"time"
)

// Store keeps notifications, preferences, digests and email deliveries (notificationdb
// implements it over Postgres).
type Store interface {
	// InTx runs fn in one transaction, committed when fn returns nil and rolled back otherwise.
	InTx(ctx context.Context, fn func(Tx) error) error
	// List returns up to q.Limit of q.UserID's notifications after q.After, newest first.
	List(ctx context.Context, q ListQuery) ([]Notification, error)
	// UnreadCount counts userID's unread notifications.
	UnreadCount(ctx context.Context, userID string) (int64, error)
	// Preferences returns userID's preferences (defaults for a user never seen) with the mutes in
	// force at now.
	Preferences(ctx context.Context, userID string, now time.Time) (Preferences, error)

	// ClaimDeliveries takes up to limit email deliveries that are due at now — pending ones whose
	// retry time has come, and ones left "sending" by a worker whose lease ran out (it crashed or
	// hung mid-send) — marks them sending with attempts+1 and a lease until now+lease, commits, and
	// returns them. Replicas claim disjoint sets.
	ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// FinishDelivery records the outcome of a claimed delivery's attempt. It changes nothing when
	// the claim was lost meanwhile (the attempt number moved on).
	FinishDelivery(ctx context.Context, d Delivery, outcome DeliveryOutcome) error
	// PushSubscriptions returns userID's push subscriptions, most recently registered first.
	PushSubscriptions(ctx context.Context, userID string) ([]PushSubscription, error)
	// ClaimPushes is ClaimDeliveries for the push outbox: up to limit due pushes, with their
	// subscription's endpoint and keys, marked sending with attempts+1 and a lease until now+lease.
	ClaimPushes(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]PushDelivery, error)
	// FinishPush records the outcome of a claimed push (fenced by its attempt, as FinishDelivery);
	// Gone removes its subscription, with every push still queued for it.
	FinishPush(ctx context.Context, p PushDelivery, outcome PushOutcome) error
	// Cleanup deletes what has outlived its use (see Retention) and returns how many rows went.
	Cleanup(ctx context.Context, now time.Time, r Retention) (int64, error)
}

// Tx is the store inside one transaction: a use case's reads and writes commit together, with the
// NotificationSent events they publish and, for event handlers, the consumer's inbox record.
type Tx interface {
	// LockRecipients takes each user's row lock (creating rows as needed, in a fixed order so two
	// transactions cannot deadlock) until the end of the transaction. Every change to a user's
	// notifications takes it first, so unread counts are exact and one user's NotificationSent
	// events are published in commit order.
	LockRecipients(ctx context.Context, userIDs ...string) error
	// Recipient returns what is known of userID (only UserID set for a user never seen).
	Recipient(ctx context.Context, userID string) (Recipient, error)
	// MessageContext reads at once what MessageSent decides on: the recipient's preferences (with
	// the mutes in force at now) and what is known of them and of the sender, and the recipient's
	// unread notification with collapseKey (nil when there is none).
	MessageContext(ctx context.Context, recipientID, senderID, collapseKey string, now time.Time) (MessageContext, error)
	// SaveRegistration stores the email address and, unless a profile was seen, the nickname.
	SaveRegistration(ctx context.Context, r Recipient) error
	// SaveEmail stores a user's (newly verified) email address.
	SaveEmail(ctx context.Context, userID, email string) error
	// SaveNickname stores nickname when version is newer than the last profile version seen.
	SaveNickname(ctx context.Context, userID, nickname string, version int64) error

	// Preferences is Store.Preferences inside the transaction.
	Preferences(ctx context.Context, userID string, now time.Time) (Preferences, error)
	// UpdatePreferences applies c (validated) to userID's preferences, stamping them with now.
	UpdatePreferences(ctx context.Context, userID string, c PreferenceChanges, now time.Time) error
	// Mute mutes chatID for userID until until (nil: for good), replacing an existing mute.
	Mute(ctx context.Context, userID string, m MutedChat) error
	// Unmute lifts a mute; lifting none is not an error.
	Unmute(ctx context.Context, userID, chatID string) error
	// IsMuted reports whether a mute of chatID by userID is in force at now.
	IsMuted(ctx context.Context, userID, chatID string, now time.Time) (bool, error)

	// DeleteNotification deletes one notification.
	DeleteNotification(ctx context.Context, id string) error
	// InsertNotification stores n.
	InsertNotification(ctx context.Context, n Notification) error
	// Notification returns userID's notification id, or nil.
	Notification(ctx context.Context, userID, id string) (*Notification, error)
	// MarkRead marks userID's unread notifications among ids read at now; nil ids means every
	// one created up to now.
	MarkRead(ctx context.Context, userID string, ids []string, now time.Time) error
	// MarkCollapsedRead marks userID's unread notification with collapse key read when it stands for
	// no message after upToSeq.
	MarkCollapsedRead(ctx context.Context, userID, key string, upToSeq int64, now time.Time) error
	// MarkSubjectRead marks userID's unread notifications of kind about subjectID read (not the
	// collapsing ones: a chat's MESSAGE notification is cleared by MarkCollapsedRead).
	MarkSubjectRead(ctx context.Context, userID string, kind Kind, subjectID string, now time.Time) error
	// ResolveFriendRequest records that requestID was accepted, declined or cancelled at now
	// (recording it again changes nothing).
	ResolveFriendRequest(ctx context.Context, requestID string, now time.Time) error
	// FriendRequestResolved reports whether requestID was recorded as resolved.
	FriendRequestResolved(ctx context.Context, requestID string) (bool, error)
	// UnreadCount is Store.UnreadCount inside the transaction.
	UnreadCount(ctx context.Context, userID string) (int64, error)
	// PublishSent writes NotificationSent for n, with the user's unread count, to the outbox.
	PublishSent(ctx context.Context, n Notification, unread int64) error

	// NotifyResult returns the result stored for a Notify call's idempotency key, if any.
	NotifyResult(ctx context.Context, userID, key string) (res StoredNotify, found bool, err error)
	// SaveNotifyResult stores a Notify call's result under its idempotency key.
	SaveNotifyResult(ctx context.Context, userID, key string, res StoredNotify, now time.Time) error

	// QueueEmail records an email to send (the delivery outbox). It returns false, queueing nothing,
	// when an email with e.DedupKey was queued before.
	QueueEmail(ctx context.Context, e Email) (bool, error)
	// SavePushSubscription stores sub, or updates the subscription with its endpoint (keys,
	// label, session, updated_at; moving it to sub.UserID if another user had it, without the
	// pushes queued for them), keeping at most limit per user (the least recently registered go),
	// and returns it as stored.
	SavePushSubscription(ctx context.Context, sub PushSubscription, limit int) (PushSubscription, error)
	// RemovePushSubscription removes userID's subscription id, if there is one.
	RemovePushSubscription(ctx context.Context, userID, id string) error
	// RemoveSessionPushSubscriptions removes the subscriptions userID registered in sessionID.
	RemoveSessionPushSubscriptions(ctx context.Context, userID, sessionID string) error
	// QueuePush records p for each of p.UserID's subscriptions (none: nothing), once per
	// (p.DedupKey, subscription); with a Topic, it first drops that user's unsent pushes of the
	// same topic, which p replaces.
	QueuePush(ctx context.Context, p QueuedPush) error
	// AddToDigest adds m to the open digest of userID for chatID, opening one due at due if there
	// is none; a message already in it (same seq) is ignored.
	AddToDigest(ctx context.Context, userID, chatID string, m DigestMessage, due time.Time) error
	// TrimDigest removes the messages up to upToSeq from userID's digest for chatID; a digest left
	// empty is deleted, otherwise it becomes due delay after its first remaining message.
	TrimDigest(ctx context.Context, userID, chatID string, upToSeq int64, delay time.Duration) error
	// EditDigestMessage replaces the text of message seq in userID's digest for chatID, if it is there.
	EditDigestMessage(ctx context.Context, userID, chatID string, seq int64, text string) error
	// DropDigestMessage removes message seq from userID's digest for chatID (deleting a digest left
	// empty).
	DropDigestMessage(ctx context.Context, userID, chatID string, seq int64) error
	// LockDueDigests locks up to limit digests due at now that no other transaction holds, with
	// their messages in seq order.
	LockDueDigests(ctx context.Context, now time.Time, limit int) ([]Digest, error)
	// DeleteDigest deletes a digest and its messages.
	DeleteDigest(ctx context.Context, id string) error
	// PostponeDigest makes a digest due at due.
	PostponeDigest(ctx context.Context, id string, due time.Time) error

	// DeleteUser erases what the service holds about a deleted user (see Service.UserDeleted) and
	// records the tombstone AnyDeleted reads; doing it again deletes nothing more. It takes the
	// user's deletion lock, then their recipient lock (LockRecipients): the order of everyone who
	// asks AnyDeleted or LockDeletions before LockRecipients, so that a deletion and a handler
	// about the same user wait for each other rather than deadlock (within one event: a batch of
	// events in one transaction may deadlock, and its events are then handled one at a time).
	DeleteUser(ctx context.Context, userID string, at time.Time) error
	// AnyDeleted reports whether any of userIDs is a deleted user's.
	AnyDeleted(ctx context.Context, userIDs ...string) (bool, error)
	// LockDeletions holds off the deletion of userIDs until the transaction ends, without a round
	// trip of its own (it runs before the next read): the hot path's way to AnyDeleted, whose
	// answer then comes with that read (MessageContext.Deleted).
	LockDeletions(ctx context.Context, userIDs ...string)
}

// MessageContext is what MessageSent reads before it decides.
type MessageContext struct {
	Prefs     Preferences
	Recipient Recipient
	Sender    Recipient
	// Unread is the recipient's unread notification for the chat: ID, Count and LastSeq set.
	Unread *Notification
	// Deleted: the recipient or the sender deleted their account (see UserDeleted).
	Deleted bool
	// PushDevices: the recipient has push subscriptions.
	PushDevices bool
}

// StoredNotify is the result of a Notify call kept under its idempotency key.
type StoredNotify struct {
	NotificationID string // "" when nothing was stored in the app
	EmailQueued    bool
}

// DigestMessage is one message waiting in a digest.
type DigestMessage struct {
	Seq         int64
	MessageID   string
	SenderID    string
	Text        string
	Attachments []string // file names
	SentAt      time.Time
}

// Digest collects a recipient's unread messages of one chat for one email.
type Digest struct {
	ID             string
	UserID         string
	ChatID         string
	FirstMessageAt time.Time
	DueAt          time.Time
	Messages       []DigestMessage
}

// Email is one email in the delivery outbox, rendered when it is queued so every attempt sends
// the same message with the same Message-ID.
type Email struct {
	ID        string // delivery id
	DedupKey  string // what it is about, unique: a repeat of the same cause queues nothing
	UserID    string
	Kind      Kind
	To        string // address
	ToName    string
	MessageID string // the Message-ID header's value without angle brackets
	Subject   string
	Text      string
	HTML      string
	CreatedAt time.Time
}

// Delivery is a claimed email and which attempt this is (from 1).
type Delivery struct {
	Email
	Attempt int
}

// DeliveryOutcome is what became of an attempt: sent, to be retried at RetryAt, or (neither)
// failed for good. Err is the error of a failed attempt.
type DeliveryOutcome struct {
	Sent    bool
	RetryAt *time.Time
	Err     string
}

// Retention says how long finished things are kept.
type Retention struct {
	// ReadNotifications: read notifications older than this are deleted (0 keeps them); so are
	// records of resolved friend requests.
	ReadNotifications time.Duration
	// NotifyKeys: Notify idempotency keys (at least 30 days, the API's promise).
	NotifyKeys time.Duration
	// Deliveries: sent and failed email deliveries, and finished pushes.
	Deliveries time.Duration
}

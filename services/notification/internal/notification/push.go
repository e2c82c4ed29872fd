package notification

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/parleyhq/parley/platform/defaults"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/validate"
)

// The push channel (Web Push): a user's browsers register subscriptions; a notification stored in
// the app is also queued as a push to each of them (the push outbox, push_deliveries), and the
// dispatcher sends it once the recipient has no live connection (see sendDuePushes).

// Limits of push subscriptions.
const (
	MaxPushSubscriptions = 10 // per user; registering one more removes the least recently registered
	DeviceLabelMaxLen    = 100
	p256dhSize           = 65 // an uncompressed P-256 point
	authSecretSize       = 16
	maxEndpointLen       = 2048
	pushTitleMaxLen      = 200 // a payload stays well inside one 4 KiB record
	pushBodyMaxLen       = 300
)

// ErrPushNotConfigured: this deployment has no VAPID key, so it sends no pushes.
var ErrPushNotConfigured = domainerr.Errorf(domainerr.ErrFailedPrecondition, "push notifications are not configured on this server")

// Pusher sends Web Push messages (the webpush package implements it).
type Pusher interface {
	// PublicKey is the VAPID public key, base64url: the applicationServerKey.
	PublicKey() string
	// CheckEndpoint refuses an endpoint the service must not request (not https, or not on a
	// public address); the error says why, to follow "endpoint: ".
	CheckEndpoint(ctx context.Context, endpoint string) error
	// Push sends one message. Errors wrapping ErrPushGone remove the subscription; ErrPushRejected
	// drops the message; a *PushRetryAfter asks to wait; any other error is retried with back-off.
	Push(ctx context.Context, m PushMessage) error
}

// Push outcomes a Pusher reports (the webpush errors, translated by its adapter).
var (
	ErrPushGone     = errors.New("push subscription gone")
	ErrPushRejected = errors.New("push message rejected")
)

// PushRetryAfter is a push service's 429: try again After from now (0: it did not say).
type PushRetryAfter struct{ After time.Duration }

func (e *PushRetryAfter) Error() string { return "push service busy, retry after " + e.After.String() }

// PushMessage is one push to one subscription, as the Pusher sends it.
type PushMessage struct {
	Endpoint string
	P256dh   []byte
	Auth     []byte
	Payload  []byte
	TTL      time.Duration
	Urgency  string
	Topic    string
}

// PushConfig turns the push channel on (Config.Push).
type PushConfig struct {
	Pusher Pusher
	// TTL is how long a push service keeps a message for a browser that is offline, and how long
	// a push waits in the outbox before it is given up. Default 24h.
	TTL time.Duration
	// OnlineWindow is how old a presence value may be while a connection is still open: the
	// gateways refresh it every 30s while one is. Default 75s.
	OnlineWindow time.Duration
	// RetryBackoff is the wait after a failed attempt, doubled each time up to an hour. Default 15s.
	RetryBackoff time.Duration
	// MaxAttempts is how many attempts a push gets. Default 10.
	MaxAttempts int
	// Timeout bounds one push; a claimed push's lease is twice as long. Default 10s.
	Timeout time.Duration
}

func (c *PushConfig) defaults() {
	c.TTL = defaults.Positive(c.TTL, 24*time.Hour)
	c.OnlineWindow = defaults.Positive(c.OnlineWindow, 75*time.Second)
	c.RetryBackoff = defaults.Positive(c.RetryBackoff, 15*time.Second)
	c.Timeout = defaults.Positive(c.Timeout, 10*time.Second)
	c.MaxAttempts = defaults.Positive(c.MaxAttempts, 10)
}

// PushSubscription is one browser that receives a user's pushes.
type PushSubscription struct {
	ID          string
	UserID      string
	Endpoint    string
	P256dh      []byte
	Auth        []byte
	DeviceLabel string
	// SessionID is the session (the access token's sid) that registered it; its end removes it.
	SessionID string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PushRegistration is a RegisterPushSubscription request: PushSubscription.toJSON()'s fields, base64url keys.
type PushRegistration struct {
	Endpoint    string
	P256dh      string
	Auth        string
	DeviceLabel string
}

// PushPayload is what a push carries to the service worker (parley.notification.v1.PushPayload;
// the store writes it as proto3 JSON).
type PushPayload struct {
	Kind          Kind
	Title         string
	Body          string // only with the recipient's push previews
	ActorNickname string
	ChatID        string
	SubjectID     string
	Count         int32
	URL           string
	Tag           string
}

// QueuedPush is a push to every subscription of a user, recorded in the transaction that raised
// its notification.
type QueuedPush struct {
	DedupKey    string // the cause: one push per cause and subscription
	UserID      string
	ActorUserID string // erased with their account (UserDeleted)
	Kind        Kind
	Topic       string // collapses a chat's pushes at the push service; replaces this topic's unsent ones here
	Urgency     string
	Payload     PushPayload
	CreatedAt   time.Time
}

// PushDelivery is a claimed push and which attempt this is (from 1).
type PushDelivery struct {
	ID             string
	SubscriptionID string
	UserID         string
	Kind           Kind
	Endpoint       string
	P256dh         []byte
	Auth           []byte
	Payload        []byte
	Topic          string
	Urgency        string
	CreatedAt      time.Time
	Attempt        int
}

// PushOutcome is what became of a claimed push: sent; retried at RetryAt; Gone (the subscription
// is removed); Skipped (the recipient was online); or, none of these, failed for good with Err.
// Unattempted: no request was made (a wait, a skip, an expiry), so the attempt does not count.
type PushOutcome struct {
	Sent        bool
	RetryAt     *time.Time
	Unattempted bool
	Gone        bool
	Skipped     bool
	Err         string
}

// PushPublicKey is the VAPID public key browsers subscribe with.
func (s *Service) PushPublicKey() (string, error) {
	if s.push == nil {
		return "", ErrPushNotConfigured
	}
	return s.push.Pusher.PublicKey(), nil
}

// RegisterPushSubscription records r for userID, linked to sessionID (the token's sid; "" when
// it had none). Every bad field is reported at once.
func (s *Service) RegisterPushSubscription(ctx context.Context, userID, sessionID string, r PushRegistration) (PushSubscription, error) {
	if s.push == nil {
		return PushSubscription{}, ErrPushNotConfigured
	}
	var problems validate.Problems
	endpoint := strings.TrimSpace(r.Endpoint)
	switch {
	case endpoint == "":
		problems.Addf("endpoint: required, the PushSubscription's endpoint URL")
	case len(endpoint) > maxEndpointLen:
		problems.Addf("endpoint: must be at most %d characters, got %d", maxEndpointLen, len(endpoint))
	default:
		if err := s.push.Pusher.CheckEndpoint(ctx, endpoint); err != nil {
			problems.Addf("endpoint: %v", err)
		}
	}
	p256dh, err := pushKey("p256dh", r.P256dh, p256dhSize, "an uncompressed P-256 public key")
	problems.Add(err)
	if err == nil && p256dh[0] != 4 {
		problems.Addf("p256dh: must be an uncompressed P-256 point (starting with 0x04)")
	}
	auth, err := pushKey("auth", r.Auth, authSecretSize, "the authentication secret")
	problems.Add(err)
	label := strings.TrimSpace(r.DeviceLabel)
	problems.Add(checkText("device_label", label, 0, DeviceLabelMaxLen, true))
	if err := problems.Err(); err != nil {
		return PushSubscription{}, err
	}
	now := s.now()
	sub := PushSubscription{ID: newID(), UserID: userID, Endpoint: endpoint, P256dh: p256dh, Auth: auth,
		DeviceLabel: label, SessionID: sessionID, CreatedAt: now, UpdatedAt: now}
	var out PushSubscription
	err = s.store.InTx(ctx, func(tx Tx) error {
		if locked, err := lockUnlessDeleted(ctx, tx, []string{userID}, userID); err != nil {
			return err
		} else if !locked {
			return ErrUserDeleted
		}
		var err error
		out, err = tx.SavePushSubscription(ctx, sub, MaxPushSubscriptions)
		return err
	})
	return out, err
}

// pushKey decodes a base64url key of exactly size bytes (padding tolerated, as some browsers add it).
func pushKey(field, value string, size int, what string) ([]byte, error) {
	if value == "" {
		return nil, domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: required, %s (%d bytes, base64url)", field, what, size)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(value, "="))
	if err != nil {
		return nil, domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: must be base64url (A-Z a-z 0-9 - _)", field)
	}
	if len(b) != size {
		return nil, domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: must be %s of %d bytes, got %d", field, what, size, len(b))
	}
	return b, nil
}

// ListPushSubscriptions returns userID's subscriptions, most recently registered first.
func (s *Service) ListPushSubscriptions(ctx context.Context, userID string) ([]PushSubscription, error) {
	return s.store.PushSubscriptions(ctx, userID)
}

// RemovePushSubscription removes one of userID's subscriptions; one that is not there (or not
// theirs) is not an error.
func (s *Service) RemovePushSubscription(ctx context.Context, userID, subscriptionID string) error {
	id, err := validate.UUID("subscription_id", subscriptionID)
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(tx Tx) error { return tx.RemovePushSubscription(ctx, userID, id) })
}

// SessionRevoked removes the subscriptions the ended session registered (SessionRevoked: logout,
// a revocation, a password change or reset, the account's deletion): whoever uses that browser
// next must not get the user's pushes.
func (s *Service) SessionRevoked(ctx context.Context, tx Tx, userID, sessionID string) error {
	if err := eventIDs(idField{"user_id", &userID}); err != nil {
		return err
	}
	if sessionID == "" {
		return nil
	}
	return tx.RemoveSessionPushSubscriptions(ctx, userID, sessionID)
}

// queuePush queues n as a push to the recipient's devices when the channel is on and their push
// switch is: n has been stored in the app (its kind's in-app switch on, its chat not muted).
// actor is the nickname of who caused it.
func (s *Service) queuePush(ctx context.Context, tx Tx, prefs Preferences, n Notification, actor, dedupKey string) error {
	if s.push == nil || !prefs.PushEnabled {
		return nil
	}
	p := PushPayload{Kind: n.Kind, Title: clip(n.Title, pushTitleMaxLen), ActorNickname: actor, SubjectID: n.SubjectID,
		Count: max(n.Count, 1), Tag: n.Kind.Name() + ":" + n.SubjectID}
	if prefs.PushPreviews {
		p.Body = clip(n.Body, pushBodyMaxLen)
	}
	q := QueuedPush{DedupKey: dedupKey, UserID: n.UserID, ActorUserID: n.ActorUserID, Kind: n.Kind,
		Urgency: "normal", CreatedAt: n.CreatedAt}
	switch n.Kind {
	case KindMessage:
		p.ChatID, p.URL, p.Tag = n.SubjectID, s.emails.link(pathChats, n.SubjectID), "chat:"+n.SubjectID
		// A chat's pushes collapse: at the push service (Topic: 32 characters of the base64url
		// alphabet, the chat id's hex digits) and in the outbox (a newer one replaces an unsent one).
		q.Topic, q.Urgency = strings.ReplaceAll(n.SubjectID, "-", ""), "high"
	case KindFriendRequest:
		p.URL = s.emails.link(pathFriendRequests)
	case KindFriendAccepted:
		p.URL = s.emails.link(pathFriends)
	default:
		p.URL = s.emails.link(pathNotifications)
	}
	q.Payload = p
	return tx.QueuePush(ctx, q)
}

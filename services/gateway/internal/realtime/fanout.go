package realtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/events"
)

// Topics are the topics whose events reach clients.
var Topics = []string{topics.Chat, topics.Friend, topics.Notification, topics.Auth}

// FanoutOptions tune the event handlers.
type FanoutOptions struct {
	// MaxEventAge drops events older than this (by ce_time): a client connected since then
	// gets them through sync, and a new consumer group reading a topic from its start must not
	// replay history to everybody. Default 2m; negative keeps every event.
	MaxEventAge time.Duration
	// Attempts and Backoff bound the retries of a failed Redis publish before the event's frames
	// are given up (the affected clients are told to resync when their gateway's subscription
	// recovers). Default 3 and 100ms. Session revocations are not given up: the consumer retries
	// them until they are applied (events.Transient, its RetryBackoff and MaxBackoff).
	Attempts int
	Backoff  time.Duration
}

// RegisterFanout registers, on a consumer of Topics without a database, the handlers that publish
// each event as a frame to the channels of the users who must see it. Kafka redelivers after
// restarts; a Redis marker per event and frame keeps a redelivered event from reaching clients
// twice (see publish).
func (h *Hub) RegisterFanout(c *events.Consumer, opts FanoutOptions) {
	if opts.MaxEventAge == 0 {
		opts.MaxEventAge = 2 * time.Minute
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 3
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 100 * time.Millisecond
	}
	f := &fanout{h: h, opts: opts, log: h.log.With("component", "realtime-fanout")}
	c.AfterBatch(f.flush)
	events.On(c, f.messageSent)
	events.On(c, f.messageEdited)
	events.On(c, f.messageDeleted)
	events.On(c, f.messagesRead)
	events.On(c, f.friendRequestSent)
	events.On(c, f.friendAccepted)
	events.On(c, f.friendDeclined)
	events.On(c, f.friendRemoved)
	events.On(c, f.notificationSent)
	events.On(c, f.sessionRevoked)
}

type fanout struct {
	h    *Hub
	opts FanoutOptions
	log  *slog.Logger

	// pending are the frames of the consumer's current batch, published together by flush. Only
	// the consumer's goroutine touches them.
	pending []publication
}

// publication is one event's frame for its users, published at most once per key.
type publication struct {
	key   string
	frame []byte
	users []string
}

// publish queues frame for users (duplicates and empty ids left out); flush publishes the batch.
// Events too old to matter are skipped. It never fails the event: realtime delivery is best
// effort on top of what clients can always fetch, and a dead-lettered frame would help nobody.
func (f *fanout) publish(ctx context.Context, ev events.Event, frame []byte, users ...string) error {
	if f.opts.MaxEventAge > 0 && !ev.Time.IsZero() && time.Since(ev.Time) > f.opts.MaxEventAge {
		f.log.Debug("realtime: event too old, not pushed", slog.String("event_id", ev.ID), slog.Time("time", ev.Time))
		return nil
	}
	seen := make(map[string]bool, len(users))
	to := users[:0:0]
	for _, u := range users {
		if u != "" && !seen[u] {
			seen[u] = true
			to = append(to, u)
		}
	}
	if len(to) == 0 {
		return nil
	}
	if ev.ID == "" {
		return f.publishNow(ctx, ev, frame, to)
	}
	// Kafka delivers at least once: after a broker or gateway restart the group may get records
	// again whose frames already went out. Each frame is sent once per event (keyed by the event
	// id and the frame, since one event may send different frames to different users), for as long
	// as the event is young enough to be pushed at all.
	sum := sha256.Sum256(frame)
	f.pending = append(f.pending, publication{key: ev.ID + ":" + hex.EncodeToString(sum[:8]), frame: frame, users: to})
	return nil
}

// flush publishes the batch's frames in one Redis round trip (one script per event, pipelined,
// so each user's channel gets them in event order), retrying briefly; a retry is harmless, since
// a frame marked sent is not sent again. The consumer calls it after each batch (AfterBatch).
func (f *fanout) flush(ctx context.Context) {
	if len(f.pending) == 0 {
		return
	}
	batch := f.pending
	f.pending = nil
	ttl := 2 * f.opts.MaxEventAge
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	var err error
	for attempt := range f.opts.Attempts {
		if err = f.h.store.publishOnce(ctx, ttl, batch); err == nil {
			return
		}
		if !sleepCtx(ctx, f.opts.Backoff<<attempt) {
			return
		}
	}
	f.log.Warn("realtime: cannot publish event frames, dropped", slog.Int("events", len(batch)), slog.Any("error", err))
}

// publishNow publishes a frame with no event id (nothing to mark it by) at once.
func (f *fanout) publishNow(ctx context.Context, ev events.Event, frame []byte, to []string) error {
	var err error
	for attempt := range f.opts.Attempts {
		if err = f.h.store.publish(ctx, frame, to...); err == nil {
			return nil
		}
		if !sleepCtx(ctx, f.opts.Backoff<<attempt) {
			return nil
		}
	}
	f.log.Warn("realtime: cannot publish event frames, dropped", slog.String("event_type", ev.Type), slog.Any("error", err))
	return nil
}

// eventMessage renders the chat.v1.Message an event describes, as ListMessages would (without
// the attachments' short-lived URLs, which the client asks the media service for).
func eventMessage(m *chatv1.Message) ([]byte, error) {
	b, err := messageJSON.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	return b, nil
}

func (f *fanout) messageSent(ctx context.Context, _ pgx.Tx, ev events.Event, m *eventsv1.MessageSent) error {
	msg := &chatv1.Message{
		MessageId: m.GetMessageId(), ChatId: m.GetChatId(), Seq: m.GetSeq(), SenderId: m.GetSenderId(),
		Text: m.GetText(), ClientMsgId: m.GetClientMsgId(), SentAt: m.GetSentAt(),
	}
	for _, a := range m.GetAttachments() {
		msg.Attachments = append(msg.Attachments, &chatv1.Attachment{
			FileId: a.GetFileId(), Name: a.GetName(), SizeBytes: a.GetSizeBytes(), ContentType: a.GetContentType(),
		})
	}
	body, err := eventMessage(msg)
	if err != nil {
		return events.Permanent(err)
	}
	frame := mustJSON(messageFrame{Type: TypeMessage, ID: ev.ID, ChatID: m.GetChatId(), Seq: m.GetSeq(), Message: body})
	return f.publish(ctx, ev, frame, m.GetSenderId(), m.GetRecipientId())
}

type editedFrame struct {
	Type      string    `json:"type"`
	ID        string    `json:"id"`
	ChatID    string    `json:"chat_id"`
	MessageID string    `json:"message_id"`
	Seq       int64     `json:"seq"`
	SenderID  string    `json:"sender_id"`
	Text      string    `json:"text"`
	EditedAt  time.Time `json:"edited_at,omitzero"`
}

func (f *fanout) messageEdited(ctx context.Context, _ pgx.Tx, ev events.Event, m *eventsv1.MessageEdited) error {
	frame := mustJSON(editedFrame{
		Type: TypeMessageEdited, ID: ev.ID, ChatID: m.GetChatId(), MessageID: m.GetMessageId(), Seq: m.GetSeq(),
		SenderID: m.GetSenderId(), Text: m.GetText(), EditedAt: ts(m.GetEditedAt()),
	})
	return f.publish(ctx, ev, frame, m.GetSenderId(), m.GetRecipientId())
}

type deletedFrame struct {
	Type      string    `json:"type"`
	ID        string    `json:"id"`
	ChatID    string    `json:"chat_id"`
	MessageID string    `json:"message_id"`
	Seq       int64     `json:"seq"`
	SenderID  string    `json:"sender_id"`
	DeletedAt time.Time `json:"deleted_at,omitzero"`
}

func (f *fanout) messageDeleted(ctx context.Context, _ pgx.Tx, ev events.Event, m *eventsv1.MessageDeleted) error {
	frame := mustJSON(deletedFrame{
		Type: TypeMessageDeleted, ID: ev.ID, ChatID: m.GetChatId(), MessageID: m.GetMessageId(), Seq: m.GetSeq(),
		SenderID: m.GetSenderId(), DeletedAt: ts(m.GetDeletedAt()),
	})
	return f.publish(ctx, ev, frame, m.GetSenderId(), m.GetRecipientId())
}

type readFrame struct {
	Type     string    `json:"type"`
	ID       string    `json:"id"`
	ChatID   string    `json:"chat_id"`
	ReaderID string    `json:"reader_id"`
	UpToSeq  int64     `json:"up_to_seq"`
	ReadAt   time.Time `json:"read_at,omitzero"`
}

// messagesRead goes to the peer (a read receipt) and to the reader's own connections (so their
// other devices clear the unread badge).
func (f *fanout) messagesRead(ctx context.Context, _ pgx.Tx, ev events.Event, m *eventsv1.MessagesRead) error {
	frame := mustJSON(readFrame{
		Type: TypeRead, ID: ev.ID, ChatID: m.GetChatId(), ReaderID: m.GetReaderId(), UpToSeq: m.GetUpToSeq(), ReadAt: ts(m.GetReadAt()),
	})
	return f.publish(ctx, ev, frame, m.GetReaderId(), m.GetPeerId())
}

type friendRequestFrame struct {
	Type         string    `json:"type"`
	ID           string    `json:"id"`
	RequestID    string    `json:"request_id"`
	FromUserID   string    `json:"from_user_id"`
	ToUserID     string    `json:"to_user_id"`
	FromNickname string    `json:"from_nickname,omitempty"`
	SentAt       time.Time `json:"sent_at,omitzero"`
}

// friendRequestSent goes to the recipient, and to the sender's own connections (their other
// devices show the outgoing request). A request to someone who blocked the sender raises no
// event at all (the friend service's rule), so nothing here can reveal a block.
func (f *fanout) friendRequestSent(ctx context.Context, _ pgx.Tx, ev events.Event, m *eventsv1.FriendRequestSent) error {
	frame := mustJSON(friendRequestFrame{
		Type: TypeFriendRequest, ID: ev.ID, RequestID: m.GetRequestId(), FromUserID: m.GetFromUserId(),
		ToUserID: m.GetToUserId(), FromNickname: m.GetFromNickname(), SentAt: ts(m.GetSentAt()),
	})
	return f.publish(ctx, ev, frame, m.GetToUserId(), m.GetFromUserId())
}

type friendAcceptedFrame struct {
	Type             string    `json:"type"`
	ID               string    `json:"id"`
	RequestID        string    `json:"request_id"`
	RequesterID      string    `json:"requester_id"`
	AccepterID       string    `json:"accepter_id"`
	AccepterNickname string    `json:"accepter_nickname,omitempty"`
	AcceptedAt       time.Time `json:"accepted_at,omitzero"`
}

// friendAccepted goes to both; each side's gateways add the other to the presence list.
func (f *fanout) friendAccepted(ctx context.Context, _ pgx.Tx, ev events.Event, m *eventsv1.FriendAccepted) error {
	frame := mustJSON(friendAcceptedFrame{
		Type: TypeFriendAccepted, ID: ev.ID, RequestID: m.GetRequestId(), RequesterID: m.GetRequesterId(),
		AccepterID: m.GetAccepterId(), AccepterNickname: m.GetAccepterNickname(), AcceptedAt: ts(m.GetAcceptedAt()),
	})
	return f.publish(ctx, ev, frame, m.GetRequesterId(), m.GetAccepterId())
}

type friendDeclinedFrame struct {
	Type        string    `json:"type"`
	ID          string    `json:"id"`
	RequestID   string    `json:"request_id"`
	RequesterID string    `json:"requester_id"`
	RecipientID string    `json:"recipient_id"`
	Cancelled   bool      `json:"cancelled"`
	DeclinedAt  time.Time `json:"declined_at,omitzero"`
}

// friendDeclined: a decline goes to the recipient's own connections only — the friend service's
// rule is that the sender is not told; a cancellation goes to both (the recipient's incoming
// request disappears, the sender's other devices drop the outgoing one).
func (f *fanout) friendDeclined(ctx context.Context, _ pgx.Tx, ev events.Event, m *eventsv1.FriendDeclined) error {
	frame := mustJSON(friendDeclinedFrame{
		Type: TypeFriendDeclined, ID: ev.ID, RequestID: m.GetRequestId(), RequesterID: m.GetRequesterId(),
		RecipientID: m.GetRecipientId(), Cancelled: m.GetCancelled(), DeclinedAt: ts(m.GetDeclinedAt()),
	})
	if m.GetCancelled() {
		return f.publish(ctx, ev, frame, m.GetRecipientId(), m.GetRequesterId())
	}
	return f.publish(ctx, ev, frame, m.GetRecipientId())
}

type friendRemovedFrame struct {
	Type         string    `json:"type"`
	ID           string    `json:"id"`
	UserID       string    `json:"user_id"`
	FriendUserID string    `json:"friend_user_id"`
	RemovedAt    time.Time `json:"removed_at,omitzero"`
}

// friendRemoved: the one who ended the friendship sees friend_removed on all their devices; the
// former friend is never told (a block must not be revealed, and a removal looks the same), but
// their gateways get a control frame so presence and typing stop flowing between the two.
func (f *fanout) friendRemoved(ctx context.Context, _ pgx.Tx, ev events.Event, m *eventsv1.FriendRemoved) error {
	frame := mustJSON(friendRemovedFrame{
		Type: TypeFriendRemoved, ID: ev.ID, UserID: m.GetUserId(), FriendUserID: m.GetFriendUserId(), RemovedAt: ts(m.GetRemovedAt()),
	})
	if err := f.publish(ctx, ev, frame, m.GetUserId()); err != nil {
		return err
	}
	return f.publish(ctx, ev, mustJSON(unfriendFrame{Type: typeUnfriend, UserID: m.GetUserId()}), m.GetFriendUserId())
}

type notificationFrame struct {
	Type         string           `json:"type"`
	ID           string           `json:"id"`
	Notification notificationBody `json:"notification"`
	UnreadCount  int64            `json:"unread_count"`
}

type notificationBody struct {
	NotificationID string    `json:"notification_id"`
	Kind           string    `json:"kind"`
	Title          string    `json:"title"`
	Body           string    `json:"body,omitempty"`
	SubjectID      string    `json:"subject_id,omitempty"`
	CreatedAt      time.Time `json:"created_at,omitzero"`
}

func (f *fanout) notificationSent(ctx context.Context, _ pgx.Tx, ev events.Event, m *eventsv1.NotificationSent) error {
	frame := mustJSON(notificationFrame{
		Type: TypeNotification, ID: ev.ID, UnreadCount: m.GetUnreadCount(),
		Notification: notificationBody{
			NotificationID: m.GetNotificationId(), Kind: m.GetKind(), Title: m.GetTitle(), Body: m.GetBody(),
			SubjectID: m.GetSubjectId(), CreatedAt: ts(m.GetCreatedAt()),
		},
	})
	return f.publish(ctx, ev, frame, m.GetUserId())
}

// sessionRevoked marks the session revoked (so its access tokens, valid for minutes more, are
// refused on the API and cannot open new connections), then tells every gateway to close its
// connections. The age limit does not apply: a revocation matters however late it comes. It is a
// security action that must not be lost: while Redis is down or stuck it fails Transient, so the
// consumer retries it without limit (capped back-off), never dead-letters it, and does not move
// the partition's offset past it; a gateway stopping meanwhile leaves it to the next one.
// Marking and publishing again are harmless.
func (f *fanout) sessionRevoked(ctx context.Context, _ pgx.Tx, ev events.Event, m *eventsv1.SessionRevoked) error {
	if m.GetSessionId() == "" || m.GetUserId() == "" {
		return nil
	}
	f.flush(ctx) // the frames of the events before it go first
	err := f.h.revoked.Mark(ctx, m.GetSessionId())
	if err == nil {
		err = f.h.store.publish(ctx, mustJSON(revokeFrame{Type: typeRevoke, SessionID: m.GetSessionId()}), m.GetUserId())
	}
	if err != nil {
		return events.Transient(fmt.Errorf("revoke session %s: %w", m.GetSessionId(), err))
	}
	return nil
}

func ts(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

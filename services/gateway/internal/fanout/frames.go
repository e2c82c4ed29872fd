package fanout

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/services/gateway/internal/realtime"
)

// The frames below are what clients get for each event (docs/realtime.md lists them). Each render
// function says who gets its frame.

// header starts every frame: its type, and the event's id, for deduplication.
type header struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// messageSent goes to both sides of the chat, as ListMessages would show the message (without
// the attachments' short-lived URLs, which the client asks the media service for).
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
	frame, err := realtime.MessageFrame(ev.ID, msg)
	if err != nil {
		return events.Permanent(err)
	}
	return f.publish(ctx, ev, frame, m.GetSenderId(), m.GetRecipientId())
}

// messageRef names the message an edit or a deletion is about.
type messageRef struct {
	ChatID    string `json:"chat_id"`
	MessageID string `json:"message_id"`
	Seq       int64  `json:"seq"`
	SenderID  string `json:"sender_id"`
}

// messageChange is what MessageEdited and MessageDeleted both carry about the message.
type messageChange interface {
	GetChatId() string
	GetMessageId() string
	GetSeq() int64
	GetSenderId() string
}

func refOf(m messageChange) messageRef {
	return messageRef{ChatID: m.GetChatId(), MessageID: m.GetMessageId(), Seq: m.GetSeq(), SenderID: m.GetSenderId()}
}

type editedFrame struct {
	header
	messageRef
	Text     string    `json:"text"`
	EditedAt time.Time `json:"edited_at,omitzero"`
}

// messageEdited goes to both sides of the chat.
func messageEdited(ev events.Event, m *eventsv1.MessageEdited) (any, []string) {
	return editedFrame{
		header: header{realtime.TypeMessageEdited, ev.ID}, messageRef: refOf(m), Text: m.GetText(), EditedAt: ts(m.GetEditedAt()),
	}, []string{m.GetSenderId(), m.GetRecipientId()}
}

type deletedFrame struct {
	header
	messageRef
	DeletedAt time.Time `json:"deleted_at,omitzero"`
}

// messageDeleted goes to both sides of the chat.
func messageDeleted(ev events.Event, m *eventsv1.MessageDeleted) (any, []string) {
	return deletedFrame{
		header: header{realtime.TypeMessageDeleted, ev.ID}, messageRef: refOf(m), DeletedAt: ts(m.GetDeletedAt()),
	}, []string{m.GetSenderId(), m.GetRecipientId()}
}

type readFrame struct {
	header
	ChatID   string    `json:"chat_id"`
	ReaderID string    `json:"reader_id"`
	UpToSeq  int64     `json:"up_to_seq"`
	ReadAt   time.Time `json:"read_at,omitzero"`
}

// messagesRead goes to the peer (a read receipt) and to the reader's own connections (so their
// other devices clear the unread badge).
func messagesRead(ev events.Event, m *eventsv1.MessagesRead) (any, []string) {
	return readFrame{
		header: header{realtime.TypeRead, ev.ID}, ChatID: m.GetChatId(), ReaderID: m.GetReaderId(), UpToSeq: m.GetUpToSeq(), ReadAt: ts(m.GetReadAt()),
	}, []string{m.GetReaderId(), m.GetPeerId()}
}

type friendRequestFrame struct {
	header
	RequestID    string    `json:"request_id"`
	FromUserID   string    `json:"from_user_id"`
	ToUserID     string    `json:"to_user_id"`
	FromNickname string    `json:"from_nickname,omitempty"`
	SentAt       time.Time `json:"sent_at,omitzero"`
}

// friendRequestSent goes to the recipient, and to the sender's own connections (their other
// devices show the outgoing request). A request to someone who blocked the sender raises no
// event at all (the friend service's rule), so nothing here can reveal a block.
func friendRequestSent(ev events.Event, m *eventsv1.FriendRequestSent) (any, []string) {
	return friendRequestFrame{
		header: header{realtime.TypeFriendRequest, ev.ID}, RequestID: m.GetRequestId(), FromUserID: m.GetFromUserId(),
		ToUserID: m.GetToUserId(), FromNickname: m.GetFromNickname(), SentAt: ts(m.GetSentAt()),
	}, []string{m.GetToUserId(), m.GetFromUserId()}
}

type friendAcceptedFrame struct {
	header
	RequestID        string    `json:"request_id"`
	RequesterID      string    `json:"requester_id"`
	AccepterID       string    `json:"accepter_id"`
	AccepterNickname string    `json:"accepter_nickname,omitempty"`
	AcceptedAt       time.Time `json:"accepted_at,omitzero"`
}

// friendAccepted goes to both; each side's gateways add the other to the presence list.
func friendAccepted(ev events.Event, m *eventsv1.FriendAccepted) (any, []string) {
	return friendAcceptedFrame{
		header: header{realtime.TypeFriendAccepted, ev.ID}, RequestID: m.GetRequestId(), RequesterID: m.GetRequesterId(),
		AccepterID: m.GetAccepterId(), AccepterNickname: m.GetAccepterNickname(), AcceptedAt: ts(m.GetAcceptedAt()),
	}, []string{m.GetRequesterId(), m.GetAccepterId()}
}

type friendDeclinedFrame struct {
	header
	RequestID   string    `json:"request_id"`
	RequesterID string    `json:"requester_id"`
	RecipientID string    `json:"recipient_id"`
	Cancelled   bool      `json:"cancelled"`
	DeclinedAt  time.Time `json:"declined_at,omitzero"`
}

// friendDeclined: a decline goes to the recipient's own connections only — the friend service's
// rule is that the sender is not told; a cancellation goes to both (the recipient's incoming
// request disappears, the sender's other devices drop the outgoing one).
func friendDeclined(ev events.Event, m *eventsv1.FriendDeclined) (any, []string) {
	to := []string{m.GetRecipientId()}
	if m.GetCancelled() {
		to = append(to, m.GetRequesterId())
	}
	return friendDeclinedFrame{
		header: header{realtime.TypeFriendDeclined, ev.ID}, RequestID: m.GetRequestId(), RequesterID: m.GetRequesterId(),
		RecipientID: m.GetRecipientId(), Cancelled: m.GetCancelled(), DeclinedAt: ts(m.GetDeclinedAt()),
	}, to
}

type friendRemovedFrame struct {
	header
	UserID       string    `json:"user_id"`
	FriendUserID string    `json:"friend_user_id"`
	RemovedAt    time.Time `json:"removed_at,omitzero"`
}

// friendRemoved: the one who ended the friendship sees friend_removed on all their devices; the
// former friend is never told (a block must not be revealed, and a removal looks the same), but
// their gateways get a control frame so presence and typing stop flowing between the two.
func (f *fanout) friendRemoved(ctx context.Context, _ pgx.Tx, ev events.Event, m *eventsv1.FriendRemoved) error {
	frame, err := json.Marshal(friendRemovedFrame{
		header: header{realtime.TypeFriendRemoved, ev.ID}, UserID: m.GetUserId(), FriendUserID: m.GetFriendUserId(), RemovedAt: ts(m.GetRemovedAt()),
	})
	if err != nil {
		return events.Permanent(fmt.Errorf("encode frame: %w", err))
	}
	if err := f.publish(ctx, ev, frame, m.GetUserId()); err != nil {
		return err
	}
	return f.publish(ctx, ev, realtime.UnfriendFrame(m.GetUserId()), m.GetFriendUserId())
}

type notificationFrame struct {
	header
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

// notificationSent goes to the user notified.
func notificationSent(ev events.Event, m *eventsv1.NotificationSent) (any, []string) {
	return notificationFrame{
		header: header{realtime.TypeNotification, ev.ID}, UnreadCount: m.GetUnreadCount(),
		Notification: notificationBody{
			NotificationID: m.GetNotificationId(), Kind: m.GetKind(), Title: m.GetTitle(), Body: m.GetBody(),
			SubjectID: m.GetSubjectId(), CreatedAt: ts(m.GetCreatedAt()),
		},
	}, []string{m.GetUserId()}
}

func ts(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

package notification

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/validate"
)

// The use cases behind the events the service consumes. Each runs inside the consumer's
// transaction (tx), which also records the event in the inbox: its effects — notifications,
// NotificationSent events, queued emails, digest entries — happen once however often the event is
// delivered. An event that can never apply (malformed ids) returns an ErrInvalidEvent error.

// someone stands in for a nickname the service has not learned (yet).
const someone = "Someone"

// FriendRequest is a FriendRequestSent event.
type FriendRequest struct {
	RequestID    string
	FromUserID   string
	ToUserID     string
	FromNickname string
}

// FriendAcceptance is a FriendAccepted event.
type FriendAcceptance struct {
	RequestID        string
	RequesterID      string
	AccepterID       string
	AccepterNickname string
}

// Message is a MessageSent event.
type Message struct {
	ChatID      string
	MessageID   string
	Seq         int64
	SenderID    string
	RecipientID string
	Text        string
	Attachments []string // file names
	SentAt      time.Time
}

// idField is an id of an event and the name of its field.
type idField struct {
	name string
	id   *string
}

// eventIDs normalises the ids of an event in place, failing with ErrInvalidEvent.
func eventIDs(fields ...idField) error {
	for _, f := range fields {
		id, err := validate.UUID(f.name, *f.id)
		if err != nil {
			return domainerr.Errorf(ErrInvalidEvent, "%s", err.Error())
		}
		*f.id = id
	}
	return nil
}

// lockUnlessDeleted takes the recipient locks of lock (LockRecipients) unless one of about, the
// users an event or a Notify call is about, deleted their account, and reports whether it took
// them: what is about a deleted account changes nothing (see UserDeleted). AnyDeleted goes first: it holds their
// deletions off until the transaction ends, so its answer stays true while the handler writes;
// its lock comes before the recipient lock, as in DeleteUser, so the two do not deadlock within
// one event (docs/notification.md: across a batch, Postgres may abort one and it is retried); and an
// event about a deleted account locks no recipient. MessageSent, the hot path, does not come
// here: LockDeletions and the read it makes anyway (MessageContext) spare AnyDeleted's round trip.
func lockUnlessDeleted(ctx context.Context, tx Tx, about []string, lock ...string) (bool, error) {
	if gone, err := tx.AnyDeleted(ctx, about...); err != nil || gone {
		return false, err
	}
	return true, tx.LockRecipients(ctx, lock...)
}

// Registered records a new user's requested nickname and, when it is verified already (an identity
// provider vouched for it), their email address (UserRegistered). An unverified address is not
// kept: notifications are emailed only to addresses their owners confirmed, so an address someone
// else signed up with gets nothing (EmailVerified brings it once confirmed).
func (s *Service) Registered(ctx context.Context, tx Tx, userID, email, nickname string, verified bool) error {
	if err := eventIDs(idField{"user_id", &userID}); err != nil {
		return err
	}
	if locked, err := lockUnlessDeleted(ctx, tx, []string{userID}, userID); err != nil || !locked {
		return err
	}
	if !verified {
		email = ""
	}
	return tx.SaveRegistration(ctx, Recipient{UserID: userID, Email: strings.TrimSpace(email), Nickname: nickname})
}

// EmailVerified keeps the address a user just confirmed (EmailVerified): from now on their
// notifications may be emailed there.
func (s *Service) EmailVerified(ctx context.Context, tx Tx, userID, email string) error {
	if err := eventIDs(idField{"user_id", &userID}); err != nil {
		return err
	}
	if locked, err := lockUnlessDeleted(ctx, tx, []string{userID}, userID); err != nil || !locked {
		return err
	}
	return tx.SaveEmail(ctx, userID, strings.TrimSpace(email))
}

// ProfileUpdated keeps the newest nickname of a user for the texts of notifications.
func (s *Service) ProfileUpdated(ctx context.Context, tx Tx, userID, nickname string, version int64) error {
	if err := eventIDs(idField{"user_id", &userID}); err != nil {
		return err
	}
	if locked, err := lockUnlessDeleted(ctx, tx, []string{userID}, userID); err != nil || !locked {
		return err
	}
	return tx.SaveNickname(ctx, userID, nickname, version)
}

// FriendRequestSent notifies the person asked, in the app and by email, as their preferences say —
// unless the request was already accepted, declined or cancelled: FriendRequestSent is keyed by the
// recipient and the answers by the pair, so an answer can be handled first, and then there is
// nothing left to act on.
func (s *Service) FriendRequestSent(ctx context.Context, tx Tx, ev FriendRequest) error {
	if err := eventIDs(idField{"request_id", &ev.RequestID}, idField{"from_user_id", &ev.FromUserID}, idField{"to_user_id", &ev.ToUserID}); err != nil {
		return err
	}
	if locked, err := lockUnlessDeleted(ctx, tx, []string{ev.FromUserID, ev.ToUserID}, ev.ToUserID); err != nil || !locked {
		return err
	}
	// Under the recipient's lock, which FriendAccepted and FriendDeclined take too (the accepter
	// and the asked person are this recipient), so an answer commits wholly before or after this.
	if resolved, err := tx.FriendRequestResolved(ctx, ev.RequestID); err != nil || resolved {
		return err
	}
	actor, err := s.nickname(ctx, tx, ev.FromUserID, ev.FromNickname)
	if err != nil {
		return err
	}
	n := Notification{ID: newID(), UserID: ev.ToUserID, Kind: KindFriendRequest,
		Title: actor + " sent you a friend request", SubjectID: ev.RequestID, ActorUserID: ev.FromUserID,
		Count: 1, CreatedAt: s.now()}
	return s.raise(ctx, tx, n, actor, "friend_request:"+ev.RequestID,
		func(to Recipient) (EmailContent, error) { return s.emails.FriendRequest(to, actor) })
}

// FriendAccepted tells the requester their request was accepted, and marks the accepter's
// notification about the request read — or, when FriendRequestSent has not been handled yet, makes
// sure it raises nothing: the request has been dealt with.
func (s *Service) FriendAccepted(ctx context.Context, tx Tx, ev FriendAcceptance) error {
	if err := eventIDs(idField{"request_id", &ev.RequestID}, idField{"requester_id", &ev.RequesterID}, idField{"accepter_id", &ev.AccepterID}); err != nil {
		return err
	}
	pair := []string{ev.RequesterID, ev.AccepterID}
	if locked, err := lockUnlessDeleted(ctx, tx, pair, pair...); err != nil || !locked {
		return err
	}
	now := s.now()
	if err := s.resolveFriendRequest(ctx, tx, ev.AccepterID, ev.RequestID, now); err != nil {
		return err
	}
	actor, err := s.nickname(ctx, tx, ev.AccepterID, ev.AccepterNickname)
	if err != nil {
		return err
	}
	n := Notification{ID: newID(), UserID: ev.RequesterID, Kind: KindFriendAccepted,
		Title: actor + " accepted your friend request", SubjectID: ev.AccepterID, ActorUserID: ev.AccepterID,
		Count: 1, CreatedAt: now}
	return s.raise(ctx, tx, n, actor, "friend_accepted:"+ev.RequestID,
		func(to Recipient) (EmailContent, error) { return s.emails.FriendAccepted(to, actor) })
}

// raise delivers n, a notification that stands alone (not collapsed like MESSAGE's), as its
// recipient's preferences for its kind allow: stored in the app (and then pushed to their
// devices), and by email, rendered by email and queued once per dedupKey. actor is the nickname
// of who caused it.
func (s *Service) raise(ctx context.Context, tx Tx, n Notification, actor, dedupKey string, email func(Recipient) (EmailContent, error)) error {
	prefs, err := tx.Preferences(ctx, n.UserID, n.CreatedAt)
	if err != nil {
		return err
	}
	if prefs.For(n.Kind).InApp {
		if err := s.storeInApp(ctx, tx, n, ""); err != nil {
			return err
		}
		if err := s.queuePush(ctx, tx, prefs, n, actor, dedupKey); err != nil {
			return err
		}
	}
	if prefs.EmailFor(n.Kind) {
		return s.emailRecipient(ctx, tx, n.UserID, n.Kind, dedupKey, n.CreatedAt, email)
	}
	return nil
}

// FriendDeclined marks the asked person's notification about a request read once the request is
// declined or withdrawn (or keeps a FriendRequestSent handled later from raising one): there is
// nothing left to act on.
func (s *Service) FriendDeclined(ctx context.Context, tx Tx, requestID, recipientID string) error {
	if err := eventIDs(idField{"request_id", &requestID}, idField{"recipient_id", &recipientID}); err != nil {
		return err
	}
	if err := tx.LockRecipients(ctx, recipientID); err != nil {
		return err
	}
	return s.resolveFriendRequest(ctx, tx, recipientID, requestID, s.now())
}

// resolveFriendRequest records a request as answered, so a FriendRequestSent handled afterwards
// raises nothing, and marks the asked person's notification about it read if it was raised.
func (s *Service) resolveFriendRequest(ctx context.Context, tx Tx, askedID, requestID string, now time.Time) error {
	if err := tx.ResolveFriendRequest(ctx, requestID, now); err != nil {
		return err
	}
	return tx.MarkSubjectRead(ctx, askedID, KindFriendRequest, requestID, now)
}

// MessageSent notifies the recipient of a message, unless the chat is muted: in the app, one
// notification per chat while unread (a new message replaces it, counting one more), and by email
// through the chat's digest, which the dispatcher sends DigestDelay after its first message if the
// recipient stays away and does not read the chat.
func (s *Service) MessageSent(ctx context.Context, tx Tx, m Message) error {
	if err := eventIDs(idField{"chat_id", &m.ChatID}, idField{"message_id", &m.MessageID}, idField{"sender_id", &m.SenderID}, idField{"recipient_id", &m.RecipientID}); err != nil {
		return err
	}
	if m.Seq <= 0 {
		return domainerr.Errorf(ErrInvalidEvent, "seq: must be positive, got %d", m.Seq)
	}
	if m.SenderID == m.RecipientID {
		return nil
	}
	// About a deleted account, a message changes nothing (see UserDeleted): the deletions are held
	// off here, and MessageContext says whether one already happened — in the read it makes
	// anyway, the hot path's one round trip.
	tx.LockDeletions(ctx, m.SenderID, m.RecipientID)
	if err := tx.LockRecipients(ctx, m.RecipientID); err != nil {
		return err
	}
	now := s.now()
	if m.SentAt.IsZero() || m.SentAt.After(now) {
		m.SentAt = now
	}
	m.SentAt = m.SentAt.UTC().Truncate(time.Microsecond)
	key := "chat:" + m.ChatID
	mc, err := tx.MessageContext(ctx, m.RecipientID, m.SenderID, key, now)
	if err != nil || mc.Deleted || mc.Prefs.Muted(m.ChatID) {
		return err
	}
	if mc.Prefs.For(KindMessage).InApp {
		if err := s.messageInApp(ctx, tx, m, now, key, mc); err != nil {
			return err
		}
	}
	if mc.Prefs.EmailFor(KindMessage) && mc.Recipient.Email != "" {
		dm := DigestMessage{Seq: m.Seq, MessageID: m.MessageID, SenderID: m.SenderID,
			Text: clip(m.Text, DigestTextMaxLen), Attachments: m.Attachments, SentAt: m.SentAt}
		// Due DigestDelay after the message was seen here rather than sent: when this consumer
		// lags behind, the read events that may follow still get their chance to cancel it.
		if err := tx.AddToDigest(ctx, m.RecipientID, m.ChatID, dm, now.Add(s.digestDelay)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) messageInApp(ctx context.Context, tx Tx, m Message, now time.Time, key string, mc MessageContext) error {
	prev := mc.Unread
	count, replaces := int32(1), ""
	if prev != nil {
		if prev.LastSeq >= m.Seq {
			return nil // already counted (the same message published again under another event id)
		}
		count, replaces = prev.Count+1, prev.ID
	}
	actor := mc.Sender.Nickname
	if actor == "" {
		actor = someone
	}
	title := "New message from " + actor
	if count > 1 {
		title = fmt.Sprintf("%d new messages from %s", count, actor)
	}
	n := Notification{ID: newID(), UserID: m.RecipientID, Kind: KindMessage, Title: title, Body: preview(m),
		SubjectID: m.ChatID, ActorUserID: m.SenderID, Count: count, CreatedAt: now, CollapseKey: key, LastSeq: m.Seq}
	if err := s.storeInApp(ctx, tx, n, replaces); err != nil {
		return err
	}
	if !mc.PushDevices {
		return nil // the hot path's common case: no device to push to, nothing to queue
	}
	return s.queuePush(ctx, tx, mc.Prefs, n, actor, "message:"+m.ChatID+":"+strconv.FormatInt(m.Seq, 10))
}

// preview is a message's text for a notification body: its start, or what is attached.
func preview(m Message) string {
	text := strings.Join(strings.Fields(m.Text), " ")
	switch {
	case text != "":
		return clip(text, 140)
	case len(m.Attachments) == 1:
		return "Sent a file: " + clip(m.Attachments[0], 100)
	case len(m.Attachments) > 1:
		return fmt.Sprintf("Sent %d files", len(m.Attachments))
	}
	return ""
}

// MessagesRead handles a reader's read cursor: their message notification for the chat is marked
// read once it stands for nothing newer, and read messages leave their pending digest (a digest
// left empty is not sent).
func (s *Service) MessagesRead(ctx context.Context, tx Tx, chatID, readerID string, upToSeq int64) error {
	if err := eventIDs(idField{"chat_id", &chatID}, idField{"reader_id", &readerID}); err != nil {
		return err
	}
	if err := tx.LockRecipients(ctx, readerID); err != nil {
		return err
	}
	if err := tx.MarkCollapsedRead(ctx, readerID, "chat:"+chatID, upToSeq, s.now()); err != nil {
		return err
	}
	return tx.TrimDigest(ctx, readerID, chatID, upToSeq, s.digestDelay)
}

// MessageEdited keeps a pending digest showing a message's current text.
func (s *Service) MessageEdited(ctx context.Context, tx Tx, chatID, recipientID string, seq int64, text string) error {
	if err := eventIDs(idField{"chat_id", &chatID}, idField{"recipient_id", &recipientID}); err != nil {
		return err
	}
	return tx.EditDigestMessage(ctx, recipientID, chatID, seq, clip(text, DigestTextMaxLen))
}

// MessageDeleted takes a deleted message out of a pending digest: it must not be emailed.
func (s *Service) MessageDeleted(ctx context.Context, tx Tx, chatID, recipientID string, seq int64) error {
	if err := eventIDs(idField{"chat_id", &chatID}, idField{"recipient_id", &recipientID}); err != nil {
		return err
	}
	return tx.DropDigestMessage(ctx, recipientID, chatID, seq)
}

// nickname returns what to call userID: given when the event carried it, else the newest known.
func (s *Service) nickname(ctx context.Context, tx Tx, userID, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	r, err := tx.Recipient(ctx, userID)
	if err != nil {
		return "", err
	}
	if r.Nickname == "" {
		return someone, nil
	}
	return r.Nickname, nil
}

// emailRecipient renders and queues an email to userID, if their address is known.
func (s *Service) emailRecipient(ctx context.Context, tx Tx, userID string, k Kind, dedupKey string, now time.Time,
	render func(Recipient) (EmailContent, error)) error {
	to, err := tx.Recipient(ctx, userID)
	if err != nil {
		return err
	}
	if to.Email == "" {
		s.logger.DebugContext(ctx, "no email address known; email not sent", slog.String("user", userID), slog.String("kind", k.Name()))
		return nil
	}
	c, err := render(to)
	if err != nil {
		return err
	}
	_, err = s.queueEmail(ctx, tx, to, k, dedupKey, c, now)
	return err
}

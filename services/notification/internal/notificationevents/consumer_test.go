package notificationevents_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/waittest"
	"github.com/parleyhq/parley/services/notification/internal/notification"
	"github.com/parleyhq/parley/services/notification/internal/notificationevents"
	"github.com/parleyhq/parley/services/notification/internal/presence"
)

// The SMTP server in these tests is a real mailpit — the dev stack's mail catcher, run from the
// repository's .bin/mailpit on free ports by mailpittest — read back through its HTTP API
// (/api/v1/messages). A real server rather than an in-test listener, so what is checked is what
// an SMTP server actually received and parsed: envelope, headers, both MIME parts, escaping.

func TestRedeliveredEventsNotifyAndEmailOnce(t *testing.T) {
	h := start(t, 300*time.Millisecond)
	alice, bob := h.register("alice"), h.register("bob")
	h.waitKnown(alice, bob)
	h.enableMessageEmail(bob)

	// A friend request delivered three times (the same ce_id), behind a poison record with the same
	// key, which goes to the dead-letter topic without holding the partition up.
	req := &eventsv1.FriendRequestSent{RequestId: uuid.NewString(), FromUserId: alice, ToUserId: bob, FromNickname: "alice", SentAt: timestamppb.Now()}
	bad := &eventsv1.FriendRequestSent{RequestId: "not-a-uuid", FromUserId: alice, ToUserId: bob}
	reqID := uuid.NewString()
	h.produce(eventstest.Record(topics.Friend, bob, uuid.NewString(), bad), eventstest.Record(topics.Friend, bob, reqID, req), eventstest.Record(topics.Friend, bob, reqID, req))
	// A message delivered twice.
	chat := uuid.NewString()
	msgID := uuid.NewString()
	msg := messageSent(chat, alice, bob, 1, "hello <bob>")
	h.produce(eventstest.Record(topics.Chat, chat, msgID, msg), eventstest.Record(topics.Chat, chat, msgID, msg))
	// And again after a while, as after a consumer restart.
	waittest.Until(t, "the friend request email", func() bool { return len(h.mailTo("bob@example.com")) >= 1 })
	h.produce(eventstest.Record(topics.Friend, bob, reqID, req), eventstest.Record(topics.Chat, chat, msgID, msg))
	// Sentinels with the same keys: once they are handled, so are the records before them.
	sentinel := &eventsv1.FriendRequestSent{RequestId: uuid.NewString(), FromUserId: uuid.NewString(), ToUserId: bob, FromNickname: "carol"}
	h.produce(eventstest.Record(topics.Friend, bob, uuid.NewString(), sentinel),
		eventstest.Record(topics.Chat, chat, uuid.NewString(), &eventsv1.MessagesRead{ChatId: uuid.NewString(), ReaderId: bob, UpToSeq: 1}))
	waittest.Until(t, "the sentinel friend request", func() bool {
		return h.count(`SELECT count(*) FROM notifications WHERE user_id = $1 AND subject_id = $2`, bob, sentinel.GetRequestId()) == 1
	})
	waittest.Until(t, "both emails", func() bool { return len(h.mailTo("bob@example.com")) == 3 })

	if n := h.count(`SELECT count(*) FROM notifications WHERE user_id = $1 AND subject_id = $2`, bob, req.GetRequestId()); n != 1 {
		t.Fatalf("%d notifications for one friend request delivered three times", n)
	}
	if n := h.count(`SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 3`, bob); n != 1 {
		t.Fatalf("%d message notifications for one message delivered twice", n)
	}
	if n := h.count(`SELECT count from notifications WHERE user_id = $1 AND kind = 3`, bob); n != 1 {
		t.Fatalf("the message notification counts %d messages; want 1", n)
	}
	mails := h.mailTo("bob@example.com")
	subjects := map[string]int{}
	for _, m := range mails {
		subjects[m.Subject]++
	}
	if subjects["alice wants to be your friend on Parley"] != 1 || subjects["New message from alice"] != 1 || subjects["carol wants to be your friend on Parley"] != 1 {
		t.Fatalf("emails to bob: %v; want one per cause", subjects)
	}
	// Accepted by the server a moment before being marked sent.
	waittest.Until(t, "three deliveries marked sent", func() bool {
		return h.count(`SELECT count(*) FROM email_deliveries WHERE state = 'sent'`) == 3
	})
	if n := h.count(`SELECT count(*) FROM email_deliveries`); n != 3 {
		t.Fatalf("%d deliveries queued; want 3", n)
	}
	for _, m := range mails {
		if m.Subject != "alice wants to be your friend on Parley" {
			continue
		}
		full := h.mail.Message(t, m.ID)
		if full.From.Address != "no-reply@parley.test" || full.From.Name != "Parley" || !strings.HasSuffix(full.MessageID, "@parley.test") ||
			!contains(full.Text, "Hi bob,", "alice sent you a friend request", "http://localhost:8080/friends/requests") ||
			!contains(full.HTML, "<strong>alice</strong>", `href="http://localhost:8080/friends/requests"`) {
			t.Fatalf("friend request email %+v", full)
		}
	}

	// The notifications reached Kafka as NotificationSent, keyed by the recipient (and left the
	// outbox with their publication).
	waittest.Until(t, "the outbox published", func() bool { return h.count(`SELECT count(*) FROM outbox`) == 0 })
	recs := kafkatest.Read(t, h.brokers, topics.Notification, 3)
	if len(recs) != 3 {
		t.Fatalf("%d NotificationSent records; want 3", len(recs))
	}
	kinds := map[string]int{}
	for _, r := range recs {
		var ev eventsv1.NotificationSent
		if err := proto.Unmarshal(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != bob || ev.GetUserId() != bob || header(r, events.HeaderSource) != "notification" {
			t.Fatalf("NotificationSent record key %q, event %v", r.Key, &ev)
		}
		kinds[ev.GetKind()]++
	}
	if kinds["friend_request"] != 2 || kinds["message"] != 1 {
		t.Fatalf("NotificationSent kinds %v; want two friend requests and one message (sentinel MessagesRead raises none)", kinds)
	}
	// The poison record went to the group's dead-letter topic.
	dlq := kafkatest.Read(t, h.brokers, events.DeadLetterTopic(topics.Friend, notificationevents.Group), 1)
	if !strings.Contains(header(dlq[0], events.HeaderDLQError), "request_id: must be a UUID") {
		t.Fatalf("dead-lettered with %q", header(dlq[0], events.HeaderDLQError))
	}
}

func TestDigestSendsOneEmailForSeveralMessages(t *testing.T) {
	h := start(t, 1500*time.Millisecond)
	alice, bob := h.register("alice"), h.register("bob")
	h.waitKnown(alice, bob)
	h.enableMessageEmail(bob)
	chat := uuid.NewString()
	texts := []string{"Are you coming tonight?", "I'll bring <cake> & tea", "Call me!"}
	var recs []*kgo.Record
	for i, text := range texts {
		recs = append(recs, eventstest.Record(topics.Chat, chat, uuid.NewString(), messageSent(chat, alice, bob, int64(i+1), text)))
	}
	h.produce(recs...)

	msgs := h.mail.WaitForMessages(t, 1)
	waittest.Until(t, "the digest to be sent", func() bool {
		return h.count(`SELECT count(*) FROM email_deliveries WHERE state = 'sent'`) == 1
	})
	// Everything is decided: no digest waits, no other email is queued.
	if d, q := h.count(`SELECT count(*) FROM digests`), h.count(`SELECT count(*) FROM email_deliveries`); d != 0 || q != 1 {
		t.Fatalf("%d digests and %d emails after sending; want 0 and 1", d, q)
	}
	if got := h.mail.Messages(t); len(got) != 1 {
		t.Fatalf("mailpit has %d messages; want one digest", len(got))
	}
	m := h.mail.Message(t, msgs[0].ID)
	if m.Subject != "3 new messages from alice" || m.To[0].Address != "bob@example.com" {
		t.Fatalf("digest %q to %v", m.Subject, m.To)
	}
	for _, text := range texts {
		if strings.Count(m.Text, text) != 1 {
			t.Errorf("the text part shows %q %d times; want once:\n%s", text, strings.Count(m.Text, text), m.Text)
		}
	}
	if !contains(m.HTML, "Are you coming tonight?", "I&#39;ll bring &lt;cake&gt; &amp; tea", "Call me!", "http://localhost:8080/chats/"+chat) || strings.Contains(m.HTML, "<cake>") {
		t.Fatalf("the HTML part does not list the messages escaped:\n%s", m.HTML)
	}
	ct := h.mail.Headers(t, msgs[0].ID)["Content-Type"]
	if len(ct) != 1 || !strings.HasPrefix(ct[0], "multipart/alternative;") {
		t.Fatalf("Content-Type %v; want multipart/alternative", ct)
	}
	// In the app the three messages are one notification counting three.
	var count int
	var title string
	if err := h.pool.QueryRow(h.ctx, `SELECT count, title FROM notifications WHERE user_id = $1`, bob).Scan(&count, &title); err != nil || count != 3 || title != "3 new messages from alice" {
		t.Fatalf("in-app: %d, %q, %v", count, title, err)
	}
}

func TestNoMessageEmailWhenOnlineOrRead(t *testing.T) {
	h := start(t, 800*time.Millisecond)
	alice, online, reader, away := h.register("alice"), h.register("online"), h.register("reader"), h.register("away")
	h.waitKnown(alice, online, reader, away)
	h.enableMessageEmail(online, reader, away)

	onlineChat, readChat, awayChat := uuid.NewString(), uuid.NewString(), uuid.NewString()
	h.produce(
		eventstest.Record(topics.Chat, onlineChat, uuid.NewString(), messageSent(onlineChat, alice, online, 1, "you there?")),
		eventstest.Record(topics.Chat, readChat, uuid.NewString(), messageSent(readChat, alice, reader, 1, "one")),
		eventstest.Record(topics.Chat, readChat, uuid.NewString(), messageSent(readChat, alice, reader, 2, "two")),
		eventstest.Record(topics.Chat, readChat, uuid.NewString(), &eventsv1.MessagesRead{ChatId: readChat, ReaderId: reader, UpToSeq: 2, PeerId: alice}),
		eventstest.Record(topics.Chat, awayChat, uuid.NewString(), messageSent(awayChat, alice, away, 1, "miss you")),
	)
	// The gateway keeps the online user's presence fresh while their socket is open.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if err := presence.Touch(context.Background(), h.redis, online, time.Now(), time.Minute); err != nil {
				t.Errorf("touch presence: %v", err)
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		h.redis.Do(context.Background(), h.redis.B().Del().Key(presence.Key(online)).Build())
	})

	waittest.Until(t, "the away user's digest", func() bool { return len(h.mailTo("away@example.com")) == 1 })
	waittest.Until(t, "every digest decided", func() bool { return h.count(`SELECT count(*) FROM digests`) == 0 })
	if n := h.count(`SELECT count(*) FROM email_deliveries`); n != 1 {
		t.Fatalf("%d emails queued; want only the away user's", n)
	}
	if got := len(h.mail.Messages(t)); got != 1 {
		t.Fatalf("mailpit has %d messages; want 1", got)
	}
	// The online user still has the in-app notification; the reader's is read.
	if h.notifications(online) != 1 || h.count(`SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NOT NULL`, reader) != 1 {
		t.Fatal("in-app notifications are not as expected")
	}
}

func TestMutedChatAndDisabledKindRaiseNothing(t *testing.T) {
	h := start(t, 200*time.Millisecond)
	alice, bob, carol := h.register("alice"), h.register("bob"), h.register("carol")
	h.waitKnown(alice, bob, carol)
	h.enableMessageEmail(bob)
	muted, open := uuid.NewString(), uuid.NewString()
	if _, err := h.svc.MuteChat(h.ctx, bob, muted, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.UpdatePreferences(h.ctx, carol, notification.PreferenceChanges{
		Kinds: []notification.KindPreference{{Kind: notification.KindFriendRequest, InApp: false, Email: false}}}); err != nil {
		t.Fatal(err)
	}
	// The records to ignore, each followed by a sentinel with the same key (same partition).
	request := &eventsv1.FriendRequestSent{RequestId: uuid.NewString(), FromUserId: alice, ToUserId: carol, FromNickname: "alice"}
	accepted := &eventsv1.FriendAccepted{RequestId: uuid.NewString(), RequesterId: carol, AccepterId: alice, AccepterNickname: "alice"}
	h.produce(
		eventstest.Record(topics.Chat, muted, uuid.NewString(), messageSent(muted, alice, bob, 1, "psst")),
		eventstest.Record(topics.Chat, muted, uuid.NewString(), messageSent(open, alice, bob, 1, "sentinel")),
		eventstest.Record(topics.Friend, carol, uuid.NewString(), request),
		eventstest.Record(topics.Friend, carol, uuid.NewString(), accepted),
	)
	waittest.Until(t, "the sentinels", func() bool {
		return h.notifications(bob) == 1 && h.notifications(carol) == 1
	})
	if n := h.count(`SELECT count(*) FROM notifications WHERE subject_id = $1`, muted); n != 0 {
		t.Fatalf("%d notifications for the muted chat", n)
	}
	if n := h.count(`SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 1`, carol); n != 0 {
		t.Fatalf("carol got %d friend request notifications with the kind off", n)
	}
	waittest.Until(t, "the open chat's digest and carol's accepted email", func() bool {
		return h.count(`SELECT count(*) FROM email_deliveries WHERE state = 'sent'`) == 2
	})
	if n := h.count(`SELECT count(*) FROM digests`) + h.count(`SELECT count(*) FROM email_deliveries WHERE dedup_key LIKE 'friend_request:%'`); n != 0 {
		t.Fatalf("%d digests or friend request emails left; want none", n)
	}
	bobMail := h.mailTo("bob@example.com")
	if len(bobMail) != 1 || !strings.Contains(h.mail.Message(t, bobMail[0].ID).Text, "sentinel") || strings.Contains(h.mail.Message(t, bobMail[0].ID).Text, "psst") {
		t.Fatalf("bob's emails %v; want the open chat's digest only", bobMail)
	}
	if got := h.mailTo("carol@example.com"); len(got) != 1 || got[0].Subject != "alice accepted your friend request" {
		t.Fatalf("carol's emails %v; want only the accepted one", got)
	}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Several messages of one chat handled in one batch (one transaction) end as they would one by
// one: the unread notification replaced once per message, counting them all, announced only when
// it was created — and a read in the middle of the batch ends the first notification, so the next
// message starts a new one rather than replacing a read one. (The store coalesces such a batch:
// one read and one replacement instead of one of each per message.)
func TestAChatsMessagesInOneBatchCountAsOneByOne(t *testing.T) {
	h := start(t, time.Hour)
	alice, bob := h.register("alice"), h.register("bob")
	h.waitKnown(alice, bob)
	chat := uuid.NewString()
	var recs []*kgo.Record
	for seq := int64(1); seq <= 3; seq++ {
		recs = append(recs, eventstest.Record(topics.Chat, chat, uuid.NewString(), messageSent(chat, alice, bob, seq, fmt.Sprintf("m%d", seq))))
	}
	recs = append(recs, eventstest.Record(topics.Chat, chat, uuid.NewString(), &eventsv1.MessagesRead{
		ChatId: chat, ReaderId: bob, PeerId: alice, UpToSeq: 3, ReadAt: timestamppb.Now()}))
	for seq := int64(4); seq <= 5; seq++ {
		recs = append(recs, eventstest.Record(topics.Chat, chat, uuid.NewString(), messageSent(chat, alice, bob, seq, fmt.Sprintf("m%d", seq))))
	}
	h.produce(recs...) // one produce: the consumer fetches them together

	waittest.Until(t, "the last message counted", func() bool {
		return h.count(`SELECT count(*) FROM notifications WHERE user_id = $1 AND last_seq = 5`, bob) == 1
	})
	var unreadCount, readCount int
	var unreadTitle, unreadBody string
	if err := h.pool.QueryRow(h.ctx, `SELECT count, title, body FROM notifications WHERE user_id = $1 AND read_at IS NULL`, bob).
		Scan(&unreadCount, &unreadTitle, &unreadBody); err != nil {
		t.Fatalf("bob's unread notification: %v", err)
	}
	if err := h.pool.QueryRow(h.ctx, `SELECT count FROM notifications WHERE user_id = $1 AND read_at IS NOT NULL`, bob).Scan(&readCount); err != nil {
		t.Fatalf("bob's read notification: %v", err)
	}
	if unreadCount != 2 || unreadTitle != "2 new messages from alice" || unreadBody != "m5" || readCount != 3 {
		t.Fatalf("unread %d %q %q, read %d; want the read one counting 3 and a new one counting 2 (m4, m5)", unreadCount, unreadTitle, unreadBody, readCount)
	}
	if n := h.count(`SELECT count(*) FROM notifications WHERE user_id = $1`, bob); n != 2 {
		t.Fatalf("bob has %d notifications; want 2", n)
	}
	waittest.Until(t, "the outbox published", func() bool { return h.count(`SELECT count(*) FROM outbox`) == 0 })
	recsOut := kafkatest.Read(t, h.brokers, topics.Notification, 2)
	if len(recsOut) != 2 {
		t.Fatalf("%d NotificationSent; want 2: one per notification created", len(recsOut))
	}
	for i, r := range recsOut {
		var ev eventsv1.NotificationSent
		if err := proto.Unmarshal(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.GetUnreadCount() != 1 || ev.GetTitle() != "New message from alice" {
			t.Fatalf("NotificationSent %d: %v; want a new notification with unread count 1", i, &ev)
		}
	}
}

// Two chats' messages interleaved in one batch, with a read of one of them in the middle: each
// recipient ends as if every event had been handled alone. (The store keeps a user's notification
// writes back while it reads about someone else, and must still send them, in order, before it
// reads about that user.)
func TestInterleavedChatsInOneBatch(t *testing.T) {
	h := start(t, time.Hour)
	alice, bob, carol := h.register("alice"), h.register("bob"), h.register("carol")
	h.waitKnown(alice, bob, carol)
	toBob, toCarol := uuid.NewString(), uuid.NewString()
	var recs []*kgo.Record
	send := func(chat, to string, seq int64) {
		// One key for all, so the records share a partition and keep this order.
		recs = append(recs, eventstest.Record(topics.Chat, "k", uuid.NewString(), messageSent(chat, alice, to, seq, fmt.Sprintf("%s-%d", to[:4], seq))))
	}
	send(toBob, bob, 1)
	send(toCarol, carol, 1)
	send(toBob, bob, 2)
	send(toCarol, carol, 2)
	recs = append(recs, eventstest.Record(topics.Chat, "k", uuid.NewString(), &eventsv1.MessagesRead{
		ChatId: toBob, ReaderId: bob, PeerId: alice, UpToSeq: 2, ReadAt: timestamppb.Now()}))
	send(toBob, bob, 3)
	send(toCarol, carol, 3)
	h.produce(recs...)

	waittest.Until(t, "both chats' last messages counted", func() bool {
		return h.count(`SELECT count(*) FROM notifications WHERE last_seq = 3`) == 2
	})
	type row struct {
		count  int
		unread bool
	}
	rows := func(user string) []row {
		r, err := h.pool.Query(h.ctx, `SELECT count, read_at IS NULL FROM notifications WHERE user_id = $1 ORDER BY last_seq`, user)
		if err != nil {
			t.Fatal(err)
		}
		var out []row
		for r.Next() {
			var x row
			if err := r.Scan(&x.count, &x.unread); err != nil {
				t.Fatal(err)
			}
			out = append(out, x)
		}
		return out
	}
	if got := rows(bob); len(got) != 2 || got[0] != (row{2, false}) || got[1] != (row{1, true}) {
		t.Fatalf("bob's notifications %v; want one read counting 2, then one unread counting 1", got)
	}
	if got := rows(carol); len(got) != 1 || got[0] != (row{3, true}) {
		t.Fatalf("carol's notifications %v; want one unread counting 3", got)
	}
	waittest.Until(t, "the outbox published", func() bool { return h.count(`SELECT count(*) FROM outbox`) == 0 })
	if recs := kafkatest.Read(t, h.brokers, topics.Notification, 3); len(recs) != 3 {
		t.Fatalf("%d NotificationSent; want 3 (bob's two notifications, carol's one)", len(recs))
	}
}

package notificationdb_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/services/notification/internal/notification"
)

func TestMessageNotificationsCollapsePerChatUntilRead(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.user("alice"), e.user("bob")
	chat, other := uuid.NewString(), uuid.NewString()

	e.message(chat, alice, bob, 1, "hi")
	e.message(chat, alice, bob, 2, "are you there?")
	e.message(chat, alice, bob, 3, "  hello\n\nagain  ")
	e.message(other, alice, bob, 1, "other chat")
	e.message(chat, alice, bob, 3, "same seq again, under another event id") // not counted twice

	ns := e.list(bob, false)
	if len(ns) != 2 {
		t.Fatalf("bob has %d notifications; want one per chat: %+v", len(ns), ns)
	}
	n := ns[1] // newest first: the other chat's is newer
	if n.SubjectID != chat || n.Count != 3 || n.Title != "3 new messages from alice" || n.Body != "hello again" ||
		n.Kind != notification.KindMessage || n.ActorUserID != alice || n.ReadAt != nil {
		t.Fatalf("collapsed notification %+v", n)
	}
	// Announced when a chat's notification is created (the unread count rises), not when a new
	// message only replaces it: the MessageSent events carry those.
	evs := e.sent()
	if len(evs) != 2 {
		t.Fatalf("%d NotificationSent events; want one per chat's new notification", len(evs))
	}
	for i, want := range []struct {
		unread  int64
		subject string
	}{{1, chat}, {2, other}} {
		if evs[i].GetUnreadCount() != want.unread || evs[i].GetSubjectId() != want.subject || evs[i].GetUserId() != bob || evs[i].GetKind() != "message" {
			t.Errorf("event %d: %v; want unread_count %d about %s", i, evs[i], want.unread, want.subject)
		}
	}
	if evs[0].GetTitle() != "New message from alice" || evs[0].GetBody() != "hi" {
		t.Errorf("first event %v does not announce the chat's first notification", evs[0])
	}
	if got := e.count(`SELECT count(*) FROM notifications WHERE notification_id = '` + evs[0].GetNotificationId() + `'`); got != 0 {
		t.Errorf("the announced notification %s is still stored; later messages must have replaced it", evs[0].GetNotificationId())
	}

	// Reading up to an older message leaves it unread; reading up to the last marks it read.
	e.event(func(tx notification.Tx) error { return e.svc.MessagesRead(e.ctx, tx, chat, bob, 2) })
	if got := e.list(bob, true); len(got) != 2 {
		t.Fatalf("after reading up to seq 2: %d unread; want 2", len(got))
	}
	e.event(func(tx notification.Tx) error { return e.svc.MessagesRead(e.ctx, tx, chat, bob, 3) })
	if got := e.list(bob, true); len(got) != 1 || got[0].SubjectID != other {
		t.Fatalf("after reading up to seq 3: unread %+v; want only the other chat's", got)
	}
	// A new message after reading starts a new notification, announced with the unread count.
	e.message(chat, alice, bob, 4, "new")
	if got := e.list(bob, true); len(got) != 2 || got[0].Count != 1 || got[0].Title != "New message from alice" {
		t.Fatalf("after a new message: %+v", got)
	}
	if evs := e.sent(); len(evs) != 3 || evs[2].GetUnreadCount() != 2 || evs[2].GetSubjectId() != chat {
		t.Fatalf("events after a new message: %v; want a third announcing unread_count 2", evs)
	}
	// The sender's own messages never notify the sender.
	if got := e.list(alice, false); len(got) != 0 {
		t.Fatalf("alice got %+v", got)
	}
}

func TestMutedChatAndDisabledKindsRaiseNothing(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.user("alice"), e.user("bob")
	chat := uuid.NewString()
	e.setPrefs(bob, notification.PreferenceChanges{Kinds: []notification.KindPreference{{Kind: notification.KindMessage, InApp: true, Email: true}}})
	until := e.clock.Now().Add(time.Hour)
	if _, err := e.svc.MuteChat(e.ctx, bob, chat, &until); err != nil {
		t.Fatal(err)
	}
	e.message(chat, alice, bob, 1, "muted")
	if n := len(e.list(bob, false)); n != 0 || len(e.sent()) != 0 || e.count(`SELECT count(*) FROM digests`) != 0 {
		t.Fatalf("a muted chat raised %d notifications, %d events, %d digests", n, len(e.sent()), e.count(`SELECT count(*) FROM digests`))
	}
	// Once the mute has expired, the chat notifies again.
	e.clock.Advance(time.Hour + time.Second)
	e.message(chat, alice, bob, 2, "audible")
	if n := len(e.list(bob, false)); n != 1 || e.count(`SELECT count(*) FROM digests`) != 1 {
		t.Fatalf("after the mute expired: %d notifications, %d digests; want 1 and 1", n, e.count(`SELECT count(*) FROM digests`))
	}

	// Friend requests: in-app off still emails; email off stores without emailing; master off too.
	carol := e.user("carol")
	request := func(from, to string) string {
		id := uuid.NewString()
		e.event(func(tx notification.Tx) error {
			return e.svc.FriendRequestSent(e.ctx, tx, notification.FriendRequest{RequestID: id, FromUserID: from, ToUserID: to, FromNickname: "alice"})
		})
		return id
	}
	e.setPrefs(carol, notification.PreferenceChanges{Kinds: []notification.KindPreference{{Kind: notification.KindFriendRequest, InApp: false, Email: true}}})
	request(alice, carol)
	if len(e.list(carol, false)) != 0 || e.queued(carol) != 1 {
		t.Fatalf("in-app off: %d notifications, %d emails; want 0 and 1", len(e.list(carol, false)), e.queued(carol))
	}
	e.setPrefs(carol, notification.PreferenceChanges{Kinds: []notification.KindPreference{{Kind: notification.KindFriendRequest, InApp: true, Email: false}}})
	request(alice, carol)
	if len(e.list(carol, false)) != 1 || e.queued(carol) != 1 {
		t.Fatalf("email off: %d notifications, %d emails; want 1 and still 1", len(e.list(carol, false)), e.queued(carol))
	}
	e.setPrefs(carol, notification.PreferenceChanges{EmailEnabled: bptr(false),
		Kinds: []notification.KindPreference{{Kind: notification.KindFriendRequest, InApp: true, Email: true}}})
	request(alice, carol)
	if len(e.list(carol, false)) != 2 || e.queued(carol) != 1 {
		t.Fatalf("master switch off: %d notifications, %d emails; want 2 and still 1", len(e.list(carol, false)), e.queued(carol))
	}
	// Message in-app off: no notification, but the digest still collects for email.
	dave := e.user("dave")
	e.setPrefs(dave, notification.PreferenceChanges{Kinds: []notification.KindPreference{{Kind: notification.KindMessage, InApp: false, Email: false}}})
	e.message(uuid.NewString(), alice, dave, 1, "x")
	if len(e.list(dave, false)) != 0 || e.count(`SELECT count(*) FROM digests WHERE user_id = $1`, dave) != 0 {
		t.Fatal("message kind off raised something")
	}
}

func TestFriendEventsNotifyAndClearTheRequest(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.user("alice"), e.user("bob")
	req := uuid.NewString()
	e.event(func(tx notification.Tx) error {
		return e.svc.FriendRequestSent(e.ctx, tx, notification.FriendRequest{RequestID: req, FromUserID: alice, ToUserID: bob, FromNickname: "alice"})
	})
	got := e.list(bob, true)
	if len(got) != 1 || got[0].Kind != notification.KindFriendRequest || got[0].Title != "alice sent you a friend request" ||
		got[0].SubjectID != req || got[0].ActorUserID != alice {
		t.Fatalf("bob's notifications %+v", got)
	}
	e.event(func(tx notification.Tx) error {
		return e.svc.FriendAccepted(e.ctx, tx, notification.FriendAcceptance{RequestID: req, RequesterID: alice, AccepterID: bob, AccepterNickname: "bob"})
	})
	if got := e.list(bob, true); len(got) != 0 {
		t.Fatalf("bob's request notification is still unread after accepting: %+v", got)
	}
	got = e.list(alice, false)
	if len(got) != 1 || got[0].Kind != notification.KindFriendAccepted || got[0].Title != "bob accepted your friend request" || got[0].SubjectID != bob {
		t.Fatalf("alice's notifications %+v", got)
	}
	var subjects []string
	if err := e.pool.QueryRow(e.ctx, `SELECT array_agg(subject ORDER BY subject) FROM email_deliveries`).Scan(&subjects); err != nil {
		t.Fatal(err)
	}
	if strings.Join(subjects, "|") != "alice wants to be your friend on Parley|bob accepted your friend request" {
		t.Fatalf("emails queued: %q", subjects)
	}
	// A declined request's notification is cleared too.
	carol := e.user("carol")
	req2 := uuid.NewString()
	e.event(func(tx notification.Tx) error {
		return e.svc.FriendRequestSent(e.ctx, tx, notification.FriendRequest{RequestID: req2, FromUserID: alice, ToUserID: carol})
	})
	e.event(func(tx notification.Tx) error { return e.svc.FriendDeclined(e.ctx, tx, req2, carol) })
	if got := e.list(carol, false); len(got) != 1 || got[0].ReadAt == nil || got[0].Title != "alice sent you a friend request" {
		t.Fatalf("carol's notifications %+v; want the request (named from the registration) read", got)
	}
	// Malformed ids are invalid events, for the dead-letter topic.
	err := e.store.InTx(e.ctx, func(tx notification.Tx) error {
		return e.svc.FriendRequestSent(e.ctx, tx, notification.FriendRequest{RequestID: "x", FromUserID: alice, ToUserID: bob})
	})
	if !errors.Is(err, notification.ErrInvalidEvent) || !strings.Contains(err.Error(), "request_id") {
		t.Fatalf("malformed request id: %v", err)
	}
}

// FriendRequestSent is keyed by the recipient and the answers by the pair, so an answer can be
// handled first: the request it answers must then raise nothing — no notification, no
// NotificationSent, no email — while the normal order still notifies and clears.
func TestFriendRequestAnsweredBeforeItArrivesRaisesNothing(t *testing.T) {
	e := newEnv(t)
	alice, bob, carol := e.user("alice"), e.user("bob"), e.user("carol")
	sent := func(req, from, to string) {
		t.Helper()
		e.event(func(tx notification.Tx) error {
			return e.svc.FriendRequestSent(e.ctx, tx, notification.FriendRequest{RequestID: req, FromUserID: from, ToUserID: to, FromNickname: "alice"})
		})
	}
	requestNotices := func(userID, req string) (stored, unread, published int) {
		t.Helper()
		for _, n := range e.list(userID, false) {
			if n.Kind == notification.KindFriendRequest && n.SubjectID == req {
				stored++
				if n.ReadAt == nil {
					unread++
				}
			}
		}
		for _, ev := range e.sent() {
			if ev.GetKind() == "friend_request" && ev.GetSubjectId() == req {
				published++
			}
		}
		return stored, unread, published
	}
	requestEmails := func(req string) int {
		return e.count(`SELECT count(*) FROM email_deliveries WHERE dedup_key = $1`, "friend_request:"+req)
	}

	// Accepted before it arrived: bob hears nothing of it; alice still learns of the acceptance.
	accepted := uuid.NewString()
	e.event(func(tx notification.Tx) error {
		return e.svc.FriendAccepted(e.ctx, tx, notification.FriendAcceptance{RequestID: accepted, RequesterID: alice, AccepterID: bob, AccepterNickname: "bob"})
	})
	sent(accepted, alice, bob)
	if stored, unread, published := requestNotices(bob, accepted); stored != 0 || unread != 0 || published != 0 {
		t.Fatalf("accepted request arriving late: %d notifications (%d unread), %d NotificationSent; want none", stored, unread, published)
	}
	if n := requestEmails(accepted); n != 0 || e.queued(bob) != 0 {
		t.Fatalf("accepted request arriving late queued %d request emails (%d to bob); want none", n, e.queued(bob))
	}
	if got := e.list(alice, true); len(got) != 1 || got[0].Kind != notification.KindFriendAccepted {
		t.Fatalf("alice's notifications %+v; want the acceptance", got)
	}
	if e.queued(alice) != 1 {
		t.Fatalf("alice has %d emails queued; want the acceptance", e.queued(alice))
	}

	// Declined (or cancelled) before it arrived: the same.
	declined := uuid.NewString()
	e.event(func(tx notification.Tx) error { return e.svc.FriendDeclined(e.ctx, tx, declined, carol) })
	e.event(func(tx notification.Tx) error { return e.svc.FriendDeclined(e.ctx, tx, declined, carol) }) // twice: still fine
	sent(declined, alice, carol)
	if stored, unread, published := requestNotices(carol, declined); stored != 0 || unread != 0 || published != 0 {
		t.Fatalf("declined request arriving late: %d notifications (%d unread), %d NotificationSent; want none", stored, unread, published)
	}
	if n := requestEmails(declined); n != 0 || e.queued(carol) != 0 {
		t.Fatalf("declined request arriving late queued %d request emails (%d to carol); want none", n, e.queued(carol))
	}

	// The normal order still notifies, emails, and then clears; another request is not affected.
	for _, answer := range []string{"accept", "decline"} {
		req := uuid.NewString()
		sent(req, alice, carol)
		if stored, unread, published := requestNotices(carol, req); stored != 1 || unread != 1 || published != 1 {
			t.Fatalf("%s, normal order: %d notifications (%d unread), %d NotificationSent; want one of each", answer, stored, unread, published)
		}
		if requestEmails(req) != 1 {
			t.Fatalf("%s, normal order: %d request emails; want one", answer, requestEmails(req))
		}
		e.event(func(tx notification.Tx) error {
			if answer == "accept" {
				return e.svc.FriendAccepted(e.ctx, tx, notification.FriendAcceptance{RequestID: req, RequesterID: alice, AccepterID: carol})
			}
			return e.svc.FriendDeclined(e.ctx, tx, req, carol)
		})
		if stored, unread, _ := requestNotices(carol, req); stored != 1 || unread != 0 {
			t.Fatalf("%s, normal order: %d notifications, %d unread after the answer; want it read", answer, stored, unread)
		}
	}

	// The records of answered requests go with the read notifications' retention.
	if n := e.count(`SELECT count(*) FROM resolved_friend_requests`); n != 4 {
		t.Fatalf("%d resolved requests recorded; want 4", n)
	}
	if _, err := e.store.Cleanup(e.ctx, e.clock.Now().Add(time.Hour), notification.Retention{}); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM resolved_friend_requests`); n != 4 {
		t.Fatalf("clean-up without a notification retention left %d resolved requests; want all 4 kept", n)
	}
	if _, err := e.store.Cleanup(e.ctx, e.clock.Now().Add(time.Hour), notification.Retention{ReadNotifications: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM resolved_friend_requests`); n != 0 {
		t.Fatalf("clean-up left %d resolved requests older than the retention", n)
	}
}

func TestNicknamesComeFromTheNewestProfile(t *testing.T) {
	e := newEnv(t)
	bob := e.user("bob")
	alice := uuid.NewString()
	// The profile may be seen before the registration (they come on different topics).
	e.event(func(tx notification.Tx) error { return e.svc.ProfileUpdated(e.ctx, tx, alice, "alice_42", 1) })
	e.event(func(tx notification.Tx) error {
		return e.svc.Registered(e.ctx, tx, alice, "alice@example.com", "alice", true)
	})
	e.event(func(tx notification.Tx) error { return e.svc.ProfileUpdated(e.ctx, tx, alice, "old", 1) })
	e.message(uuid.NewString(), alice, bob, 1, "hi")
	if got := e.list(bob, false); got[0].Title != "New message from alice_42" {
		t.Fatalf("title %q; want the profile's nickname", got[0].Title)
	}
	e.event(func(tx notification.Tx) error { return e.svc.ProfileUpdated(e.ctx, tx, alice, "alicia", 2) })
	e.message(uuid.NewString(), alice, bob, 1, "hi")
	if got := e.list(bob, false); got[0].Title != "New message from alicia" {
		t.Fatalf("title %q; want the newer nickname", got[0].Title)
	}
	e.message(uuid.NewString(), uuid.NewString(), bob, 1, "hi")
	if got := e.list(bob, false); got[0].Title != "New message from Someone" {
		t.Fatalf("title %q for an unknown sender", got[0].Title)
	}
}

func TestListPagesAndMarkRead(t *testing.T) {
	e := newEnv(t)
	bob, eve := e.user("bob"), e.user("eve")
	var ids []string
	for i := range 5 {
		r, err := e.svc.Notify(e.ctx, notification.NotifyRequest{UserID: bob, Kind: notification.KindSystem,
			Title: fmt.Sprintf("notice %d", i), IdempotencyKey: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.Notification.ID)
		e.clock.Advance(time.Millisecond)
	}
	p1, err := e.svc.List(e.ctx, bob, 2, "", false)
	if err != nil || len(p1.Notifications) != 2 || p1.NextPageToken == "" || p1.UnreadCount != 5 || p1.Notifications[0].Title != "notice 4" {
		t.Fatalf("page 1: %+v, %v", p1, err)
	}
	p2, _ := e.svc.List(e.ctx, bob, 2, p1.NextPageToken, false)
	p3, _ := e.svc.List(e.ctx, bob, 2, p2.NextPageToken, false)
	if len(p2.Notifications) != 2 || len(p3.Notifications) != 1 || p3.NextPageToken != "" || p3.Notifications[0].Title != "notice 0" {
		t.Fatalf("pages 2 and 3: %+v %+v", p2, p3)
	}
	if _, err := e.svc.List(e.ctx, bob, 2, p1.NextPageToken, true); !errors.Is(err, domainerr.ErrInvalidArgument) {
		t.Fatalf("token of another unread_only: %v", err)
	}

	// Marking by id ignores unknown, foreign and already read ids.
	n, err := e.svc.MarkRead(e.ctx, bob, []string{ids[0], ids[1], uuid.NewString()}, false)
	if err != nil || n != 3 {
		t.Fatalf("MarkRead = %d, %v; want 3 unread left", n, err)
	}
	if n, err := e.svc.MarkRead(e.ctx, eve, []string{ids[2]}, false); err != nil || n != 0 {
		t.Fatalf("eve marking bob's notification: %d, %v", n, err)
	}
	if got := e.list(bob, true); len(got) != 3 {
		t.Fatalf("bob has %d unread after eve's call; want 3", len(got))
	}
	unread, _ := e.svc.List(e.ctx, bob, 2, "", true)
	rest, _ := e.svc.List(e.ctx, bob, 2, unread.NextPageToken, true)
	if len(unread.Notifications)+len(rest.Notifications) != 3 || rest.Notifications[0].Title != "notice 2" {
		t.Fatalf("unread pages %+v %+v", unread, rest)
	}
	if n, err := e.svc.MarkRead(e.ctx, bob, nil, true); err != nil || n != 0 {
		t.Fatalf("mark all: %d, %v", n, err)
	}
	for _, c := range []struct {
		ids  []string
		all  bool
		want string
	}{
		{nil, false, "notification_ids, all: give the notification_ids to mark read, or all=true"},
		{[]string{ids[0]}, true, "not both"},
		{[]string{ids[0], "nope"}, false, `notification_ids[1]: must be a UUID`},
		{make([]string, 101), false, "notification_ids: at most 100 ids per call, got 101"},
	} {
		if _, err := e.svc.MarkRead(e.ctx, bob, c.ids, c.all); !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("MarkRead(%d ids, all=%t) = %v; want %q", len(c.ids), c.all, err, c.want)
		}
	}
}

func TestNotifyIsIdempotentPerRecipientAndKey(t *testing.T) {
	e := newEnv(t)
	bob, carol := e.user("bob"), e.user("carol")
	req := notification.NotifyRequest{UserID: bob, Kind: notification.KindSystem, Title: "New sign-in",
		Body: "From Firefox on Linux.", IdempotencyKey: "auth:login:1"}
	first, err := e.svc.Notify(e.ctx, req)
	if err != nil || first.Notification == nil || !first.EmailQueued {
		t.Fatalf("first Notify: %+v, %v", first, err)
	}
	again, err := e.svc.Notify(e.ctx, req)
	if err != nil || again.Notification == nil || again.Notification.ID != first.Notification.ID || !again.EmailQueued {
		t.Fatalf("repeated Notify: %+v, %v; want the first result", again, err)
	}
	if len(e.list(bob, false)) != 1 || e.queued(bob) != 1 || len(e.sent()) != 1 {
		t.Fatalf("after a repeat: %d notifications, %d emails, %d events; want 1 each", len(e.list(bob, false)), e.queued(bob), len(e.sent()))
	}
	// The same key for another recipient is another notification.
	req.UserID = carol
	if r, err := e.svc.Notify(e.ctx, req); err != nil || r.Notification == nil || r.Notification.ID == first.Notification.ID {
		t.Fatalf("same key for carol: %+v, %v", r, err)
	}
	// Kind off in the app and by email: nothing stored, nothing queued, and the repeat says so too.
	e.setPrefs(bob, notification.PreferenceChanges{Kinds: []notification.KindPreference{{Kind: notification.KindSystem}}})
	req = notification.NotifyRequest{UserID: bob, Kind: notification.KindSystem, Title: "quiet", IdempotencyKey: "k2"}
	for range 2 {
		r, err := e.svc.Notify(e.ctx, req)
		if err != nil || r.Notification != nil || r.EmailQueued {
			t.Fatalf("Notify of a kind switched off: %+v, %v", r, err)
		}
	}
	// A user whose address is unknown gets the in-app notification only.
	stranger := uuid.NewString()
	if r, err := e.svc.Notify(e.ctx, notification.NotifyRequest{UserID: stranger, Kind: notification.KindSystem, Title: "t", IdempotencyKey: "k"}); err != nil || r.Notification == nil || r.EmailQueued {
		t.Fatalf("Notify without an address: %+v, %v", r, err)
	}
}

func TestPreferencesAndMutes(t *testing.T) {
	e := newEnv(t)
	bob := e.user("bob")
	p, err := e.svc.Preferences(e.ctx, bob)
	if err != nil || p.UpdatedAt != nil || !p.EmailEnabled || p.For(notification.KindMessage).Email {
		t.Fatalf("defaults %+v, %v", p, err)
	}
	p, err = e.svc.UpdatePreferences(e.ctx, bob, notification.PreferenceChanges{
		Kinds: []notification.KindPreference{{Kind: notification.KindMessage, InApp: false, Email: true}}})
	if err != nil || p.UpdatedAt == nil || p.For(notification.KindMessage).InApp || !p.For(notification.KindMessage).Email ||
		!p.For(notification.KindFriendRequest).Email || !p.EmailEnabled {
		t.Fatalf("after changing MESSAGE: %+v, %v", p, err)
	}
	p, _ = e.svc.UpdatePreferences(e.ctx, bob, notification.PreferenceChanges{EmailEnabled: bptr(false)})
	if p.EmailEnabled || !p.For(notification.KindMessage).Email {
		t.Fatalf("after the master switch: %+v; the kinds must be kept", p)
	}
	for _, c := range []struct {
		kinds []notification.KindPreference
		want  string
	}{
		{[]notification.KindPreference{{Kind: notification.KindUnspecified}}, "kinds[0].kind: required"},
		{[]notification.KindPreference{{Kind: 9}}, "kinds[0].kind: unknown kind 9"},
		{[]notification.KindPreference{{Kind: notification.KindSystem}, {Kind: notification.KindSystem}}, "kinds[1].kind: NOTIFICATION_KIND_SYSTEM is listed twice"},
	} {
		if _, err := e.svc.UpdatePreferences(e.ctx, bob, notification.PreferenceChanges{Kinds: c.kinds}); !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("UpdatePreferences(%v) = %v; want %q", c.kinds, err, c.want)
		}
	}

	chatA, chatB := uuid.NewString(), uuid.NewString()
	soon := e.clock.Now().Add(time.Minute)
	if _, err := e.svc.MuteChat(e.ctx, bob, chatA, nil); err != nil {
		t.Fatal(err)
	}
	if m, err := e.svc.MuteChat(e.ctx, bob, strings.ToUpper(chatB), &soon); err != nil || m.ChatID != chatB || !m.Until.Equal(soon) {
		t.Fatalf("MuteChat = %+v, %v", m, err)
	}
	p, _ = e.svc.Preferences(e.ctx, bob)
	if len(p.MutedChats) != 2 {
		t.Fatalf("muted chats %+v", p.MutedChats)
	}
	e.clock.Advance(2 * time.Minute)
	p, _ = e.svc.Preferences(e.ctx, bob)
	if len(p.MutedChats) != 1 || p.MutedChats[0].ChatID != chatA || p.MutedChats[0].Until != nil {
		t.Fatalf("after chat B's mute expired: %+v", p.MutedChats)
	}
	if err := e.svc.UnmuteChat(e.ctx, bob, chatA); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.UnmuteChat(e.ctx, bob, chatA); err != nil {
		t.Fatalf("unmuting a chat that is not muted: %v", err)
	}
	past := e.clock.Now().Add(-time.Second)
	if _, err := e.svc.MuteChat(e.ctx, bob, chatA, &past); !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.Contains(err.Error(), "until: must be in the future") {
		t.Fatalf("mute until the past: %v", err)
	}
	if _, err := e.svc.MuteChat(e.ctx, bob, "chat-1", nil); !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.Contains(err.Error(), "chat_id: must be a UUID") {
		t.Fatalf("mute a malformed chat id: %v", err)
	}
	if n, err := e.store.Cleanup(e.ctx, e.clock.Now(), notification.Retention{}); err != nil || n != 1 {
		t.Fatalf("clean-up removed %d rows (%v); want the expired mute", n, err)
	}
}

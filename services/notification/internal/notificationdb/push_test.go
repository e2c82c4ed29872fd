package notificationdb_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"

	notificationv1 "github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/services/notification/internal/notification"
	"github.com/parleyhq/parley/services/notification/internal/notificationtest"
	"github.com/parleyhq/parley/services/notification/internal/webpush"
	"github.com/parleyhq/parley/services/notification/internal/webpushtest"
)

// pushEnv is env with the push channel on: pushes go through the real sender (encryption, VAPID)
// to a push service stand-in on loopback, which the test opts in to (AllowPrivateEndpoints), and
// presence comes from Redis, written by the test as the gateways write it.
type pushEnv struct {
	*env
	ps *webpushtest.Server
}

func newPushEnv(t *testing.T) *pushEnv {
	t.Helper()
	ps, sender := notificationtest.Push(t)
	e := newEnv(t, func(c *notification.Config) {
		c.Push = &notification.PushConfig{Pusher: &webpush.Notifications{Sender: sender}, TTL: time.Hour,
			OnlineWindow: 75 * time.Second, RetryBackoff: 10 * time.Second, MaxAttempts: 3}
	}).withDispatcher()
	return &pushEnv{env: e, ps: ps}
}

// subscribe registers a new browser subscription of userID, in session.
func (e *pushEnv) subscribe(userID, session string) *webpushtest.Subscription {
	e.t.Helper()
	sub := e.ps.Subscribe()
	if _, err := e.svc.RegisterPushSubscription(e.ctx, userID, session, notification.PushRegistration{
		Endpoint: sub.Endpoint, P256dh: sub.P256dh, Auth: sub.Auth, DeviceLabel: "Firefox on laptop"}); err != nil {
		e.t.Fatal(err)
	}
	return sub
}

// delivered decodes the payloads sub's push service accepted.
func (e *pushEnv) delivered(sub *webpushtest.Subscription) []*notificationv1.PushPayload {
	e.t.Helper()
	var out []*notificationv1.PushPayload
	for _, raw := range e.ps.Delivered(sub) {
		var p notificationv1.PushPayload
		if err := protojson.Unmarshal(raw, &p); err != nil {
			e.t.Fatalf("payload %s: %v", raw, err)
		}
		out = append(out, &p)
	}
	return out
}

func (e *pushEnv) friendRequest(from, to string) string {
	e.t.Helper()
	id := uuid.NewString()
	e.event(func(tx notification.Tx) error {
		return e.svc.FriendRequestSent(e.ctx, tx, notification.FriendRequest{RequestID: id, FromUserID: from, ToUserID: to})
	})
	return id
}

func TestPushesReachEveryDeviceEncryptedAndWithoutTextUnlessPreviewsAreOn(t *testing.T) {
	e := newPushEnv(t)
	alice, bob := e.user("alice"), e.user("bob")
	laptop, phone := e.subscribe(bob, "session-1"), e.subscribe(bob, "session-2")

	e.friendRequest(alice, bob)
	chat := uuid.NewString()
	e.message(chat, alice, bob, 1, "the secret plan")
	e.disp.RunOnce(e.ctx)

	for _, sub := range []*webpushtest.Subscription{laptop, phone} {
		got := e.delivered(sub)
		if len(got) != 2 {
			t.Fatalf("%s got %d pushes; want the friend request and the message", sub.ID, len(got))
		}
		// Pushes go out concurrently, in no particular order.
		fr, msg := got[0], got[1]
		if fr.GetKind() == notificationv1.NotificationKind_NOTIFICATION_KIND_MESSAGE {
			fr, msg = msg, fr
		}
		if fr.GetKind() != notificationv1.NotificationKind_NOTIFICATION_KIND_FRIEND_REQUEST || fr.GetTitle() != "alice sent you a friend request" ||
			fr.GetActorNickname() != "alice" || fr.GetUrl() != "http://localhost:8080/friends/requests" || fr.GetCount() != 1 {
			t.Errorf("friend request push %v", fr)
		}
		if msg.GetKind() != notificationv1.NotificationKind_NOTIFICATION_KIND_MESSAGE || msg.GetTitle() != "New message from alice" ||
			msg.GetChatId() != chat || msg.GetSubjectId() != chat || msg.GetActorNickname() != "alice" || msg.GetCount() != 1 ||
			msg.GetUrl() != "http://localhost:8080/chats/"+chat || msg.GetTag() != "chat:"+chat {
			t.Errorf("message push %v", msg)
		}
		if msg.GetBody() != "" || fr.GetBody() != "" {
			t.Errorf("a push carried a body without previews: %q, %q", msg.GetBody(), fr.GetBody())
		}
	}
	for _, p := range e.ps.Pushes() {
		if p.TTL == "" || p.TTL == "0" || len(p.TTL) > 4 {
			t.Errorf("TTL %q; want the seconds left of PUSH_TTL (an hour)", p.TTL)
		}
		if strings.Contains(string(p.Payload), "secret") {
			t.Errorf("a push carried the message text: %s", p.Payload)
		}
	}
	// The message's pushes collapse with the chat's others at the push service.
	for _, p := range e.ps.Pushes() {
		isMessage := strings.Contains(string(p.Payload), "NOTIFICATION_KIND_MESSAGE")
		if isMessage && (p.Topic != strings.ReplaceAll(chat, "-", "") || p.Urgency != "high") ||
			!isMessage && (p.Topic != "" || p.Urgency != "normal") {
			t.Errorf("push %s: Topic %q Urgency %q", p.Payload, p.Topic, p.Urgency)
		}
	}

	// With previews on, the text comes along.
	e.setPrefs(bob, notification.PreferenceChanges{PushPreviews: bptr(true)})
	e.message(chat, alice, bob, 2, "second  line")
	e.disp.RunOnce(e.ctx)
	got := e.delivered(laptop)
	if len(got) != 3 || got[2].GetBody() != "second line" || got[2].GetTitle() != "2 new messages from alice" || got[2].GetCount() != 2 {
		t.Fatalf("with previews: %v", got[len(got)-1])
	}
	if n := e.count(`SELECT count(*) FROM push_deliveries WHERE state = 'sent' AND payload = ''`); n != 6 {
		t.Fatalf("%d pushes marked sent with their payload emptied; want 6", n)
	}
}

func TestNoPushWhileAConnectionIsOpen(t *testing.T) {
	e := newPushEnv(t)
	alice, online, leaving, away := e.user("alice"), e.user("online"), e.user("leaving"), e.user("away")
	onlineSub, leavingSub, awaySub := e.subscribe(online, "s1"), e.subscribe(leaving, "s2"), e.subscribe(away, "s3")
	// away was last seen long ago; leaving closed their last connection 10 s ago; online has one
	// open: the gateway refreshes their presence every 30 s, so they were seen after the messages.
	e.seen(away, e.clock.Now().Add(-time.Hour))
	e.seen(leaving, e.clock.Now().Add(-10*time.Second))
	for _, to := range []string{online, leaving, away} {
		e.message(uuid.NewString(), alice, to, 1, "hi")
	}
	e.clock.Advance(time.Second)
	e.seen(online, e.clock.Now())
	e.disp.RunOnce(e.ctx)
	if n := len(e.ps.Delivered(awaySub)); n != 1 {
		t.Fatalf("away got %d pushes; want 1 at once", n)
	}
	if n := len(e.ps.Delivered(onlineSub)) + len(e.ps.Delivered(leavingSub)); n != 0 {
		t.Fatalf("%d pushes to the online and the leaving user; want none yet", n)
	}
	// leaving's presence is not refreshed: once it is older than a live connection's could be,
	// they are away and get the push; online's was refreshed, so theirs is skipped for good.
	e.clock.Advance(75 * time.Second)
	e.disp.RunOnce(e.ctx)
	if n := len(e.ps.Delivered(leavingSub)); n != 1 {
		t.Fatalf("leaving got %d pushes after the online window; want 1", n)
	}
	if n := len(e.ps.Delivered(onlineSub)); n != 0 {
		t.Fatalf("online got %d pushes", n)
	}
	if n := e.count(`SELECT count(*) FROM push_deliveries WHERE user_id = $1 AND state = 'skipped' AND attempts = 0`, online); n != 1 {
		t.Fatalf("%d skipped pushes for online (waits do not count as attempts); want 1", n)
	}
}

func TestMutesAndPreferencesStopPushes(t *testing.T) {
	e := newPushEnv(t)
	alice, bob := e.user("alice"), e.user("bob")
	sub := e.subscribe(bob, "s")
	muted := uuid.NewString()
	if _, err := e.svc.MuteChat(e.ctx, bob, muted, nil); err != nil {
		t.Fatal(err)
	}
	e.message(muted, alice, bob, 1, "x")
	// A kind off in the app is not pushed either.
	e.setPrefs(bob, notification.PreferenceChanges{Kinds: []notification.KindPreference{{Kind: notification.KindFriendRequest, InApp: false, Email: true}}})
	e.friendRequest(alice, bob)
	e.disp.RunOnce(e.ctx)
	if n := len(e.ps.Pushes()); n != 0 {
		t.Fatalf("%d pushes for a muted chat and a kind off in the app", n)
	}
	// The push switch off: nothing pushed, though stored in the app.
	e.setPrefs(bob, notification.PreferenceChanges{PushEnabled: bptr(false)})
	e.message(uuid.NewString(), alice, bob, 1, "x")
	e.disp.RunOnce(e.ctx)
	if n := len(e.ps.Pushes()); n != 0 {
		t.Fatalf("%d pushes with push_enabled off", n)
	}
	p, err := e.svc.Preferences(e.ctx, bob)
	if err != nil || p.PushEnabled || p.PushPreviews || !p.EmailEnabled {
		t.Fatalf("preferences %+v, %v", p, err)
	}
	e.setPrefs(bob, notification.PreferenceChanges{PushEnabled: bptr(true)})
	e.message(uuid.NewString(), alice, bob, 1, "x")
	e.disp.RunOnce(e.ctx)
	if n := len(e.ps.Delivered(sub)); n != 1 {
		t.Fatalf("%d pushes once switched back on; want 1", n)
	}
}

func TestGoneSubscriptionsAreRemoved(t *testing.T) {
	e := newPushEnv(t)
	alice, bob := e.user("alice"), e.user("bob")
	gone410, gone404, kept := e.subscribe(bob, "s"), e.subscribe(bob, "s"), e.subscribe(bob, "s")
	e.ps.Answer(gone410, webpushtest.Answer{Status: 410})
	e.ps.Answer(gone404, webpushtest.Answer{Status: 404})
	e.message(uuid.NewString(), alice, bob, 1, "x")
	e.disp.RunOnce(e.ctx)
	subs, err := e.svc.ListPushSubscriptions(e.ctx, bob)
	if err != nil || len(subs) != 1 || subs[0].Endpoint != kept.Endpoint {
		t.Fatalf("subscriptions after 410 and 404: %v, %v; want only the one that took the push", subs, err)
	}
	if n := e.count(`SELECT count(*) FROM push_deliveries WHERE user_id = $1`, bob); n != 1 {
		t.Fatalf("%d pushes left; the gone subscriptions' went with them", n)
	}
	// Later notifications go only to the subscription left.
	e.message(uuid.NewString(), alice, bob, 1, "y")
	e.disp.RunOnce(e.ctx)
	if len(e.ps.Delivered(kept)) != 2 || len(e.ps.Pushes()) != 4 {
		t.Fatalf("pushes %d, to the kept subscription %d; want 4 and 2", len(e.ps.Pushes()), len(e.ps.Delivered(kept)))
	}
}

func TestRetriesHonourRetryAfterAndGiveUpOnRefusals(t *testing.T) {
	e := newPushEnv(t)
	alice, bob := e.user("alice"), e.user("bob")
	busy, tooLarge, broken := e.subscribe(bob, "s"), e.subscribe(bob, "s"), e.subscribe(bob, "s")
	e.ps.Answer(busy, webpushtest.Answer{Status: 429, RetryAfter: "120"})
	e.ps.Answer(tooLarge, webpushtest.Answer{Status: 413})
	e.ps.Answer(broken, webpushtest.Answer{Status: 503}, webpushtest.Answer{Status: 503}, webpushtest.Answer{Status: 503})
	e.friendRequest(alice, bob)
	e.disp.RunOnce(e.ctx)
	if n := len(e.ps.Pushes()); n != 3 {
		t.Fatalf("%d requests; want one per subscription", n)
	}
	// Not before the push service's Retry-After (2 min), though the back-off (10 s) has passed.
	e.clock.Advance(time.Minute)
	e.disp.RunOnce(e.ctx)
	if n := len(e.ps.Delivered(busy)); n != 0 {
		t.Fatalf("retried before Retry-After")
	}
	e.clock.Advance(time.Minute)
	e.disp.RunOnce(e.ctx)
	if n := len(e.ps.Delivered(busy)); n != 1 {
		t.Fatalf("busy got %d pushes after Retry-After; want 1", n)
	}
	// 413 is not retried; 503 is, until the attempts (3) run out.
	for range 5 {
		e.clock.Advance(time.Hour)
		e.disp.RunOnce(e.ctx)
	}
	counts := map[string]int{}
	for _, p := range e.ps.Pushes() {
		counts[p.Subscription]++
	}
	if counts[busy.ID] != 2 || counts[tooLarge.ID] != 1 || counts[broken.ID] != 3 {
		t.Fatalf("requests per subscription: busy %d, 413 %d, 503 %d; want 2, 1, 3", counts[busy.ID], counts[tooLarge.ID], counts[broken.ID])
	}
	if n := e.count(`SELECT count(*) FROM push_deliveries WHERE state = 'failed'`); n != 2 {
		t.Fatalf("%d pushes failed; want the 413 and the 503s", n)
	}
}

// A restart is a new service and dispatcher over the same database: what was sent is not sent
// again, what was claimed by a process that died before sending is sent once its lease ends.
func TestNothingIsPushedTwiceAcrossARestart(t *testing.T) {
	e := newPushEnv(t)
	alice, bob := e.user("alice"), e.user("bob")
	sub := e.subscribe(bob, "s")
	e.friendRequest(alice, bob)
	e.message(uuid.NewString(), alice, bob, 1, "x")
	e.disp.RunOnce(e.ctx)
	if n := len(e.ps.Delivered(sub)); n != 2 {
		t.Fatalf("%d pushes before the restart; want 2", n)
	}
	// A process claims the next push and dies before sending it.
	e.message(uuid.NewString(), alice, bob, 1, "y")
	if claimed, err := e.store.ClaimPushes(e.ctx, e.clock.Now(), 20*time.Second, 10); err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %v", claimed, err)
	}

	svc, err := notification.NewService(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	restarted := e.dispatcher(e.redis)
	restarted.RunOnce(e.ctx)
	if n := len(e.ps.Pushes()); n != 2 {
		t.Fatalf("%d pushes after the restart, inside the dead claim's lease; want still 2", n)
	}
	e.clock.Advance(21 * time.Second)
	restarted.RunOnce(e.ctx)
	restarted.RunOnce(e.ctx)
	if n := len(e.ps.Delivered(sub)); n != 3 {
		t.Fatalf("%d pushes once the lease ended; want 3, each once", n)
	}
	// The same cause queued again (a redelivered event) pushes nothing.
	e.event(func(tx notification.Tx) error {
		return tx.QueuePush(e.ctx, notification.QueuedPush{DedupKey: "friend_request:again", UserID: bob, Kind: notification.KindSystem,
			Payload: notification.PushPayload{Title: "t"}, CreatedAt: e.clock.Now()})
	})
	e.event(func(tx notification.Tx) error {
		return tx.QueuePush(e.ctx, notification.QueuedPush{DedupKey: "friend_request:again", UserID: bob, Kind: notification.KindSystem,
			Payload: notification.PushPayload{Title: "t"}, CreatedAt: e.clock.Now()})
	})
	restarted.RunOnce(e.ctx)
	if n := len(e.ps.Delivered(sub)); n != 4 {
		t.Fatalf("%d pushes after one cause queued twice; want 4", n)
	}
}

func TestSubscriptionsEndWithTheirSessionAndTheAccount(t *testing.T) {
	e := newPushEnv(t)
	alice, bob := e.user("alice"), e.user("bob")
	e.subscribe(bob, "session-1")
	kept := e.subscribe(bob, "session-2")
	e.subscribe(alice, "session-1") // another user's session of the same name is not bob's
	e.event(func(tx notification.Tx) error { return e.svc.SessionRevoked(e.ctx, tx, bob, "session-1") })
	subs, err := e.svc.ListPushSubscriptions(e.ctx, bob)
	if err != nil || len(subs) != 1 || subs[0].Endpoint != kept.Endpoint || subs[0].SessionID != "session-2" {
		t.Fatalf("bob's subscriptions after session-1 ended: %+v, %v", subs, err)
	}
	if n := e.count(`SELECT count(*) FROM push_subscriptions WHERE user_id = $1`, alice); n != 1 {
		t.Fatalf("alice has %d subscriptions; want hers kept", n)
	}
	// Pushes queued for bob, and those alice caused for others, go with their accounts.
	e.message(uuid.NewString(), alice, bob, 1, "x")
	e.event(func(tx notification.Tx) error { return e.svc.UserDeleted(e.ctx, tx, alice, e.clock.Now()) })
	if n := e.count(`SELECT count(*) FROM push_deliveries`) + e.count(`SELECT count(*) FROM push_subscriptions WHERE user_id = $1`, alice); n != 0 {
		t.Fatalf("%d pushes or subscriptions left of alice", n)
	}
	e.event(func(tx notification.Tx) error { return e.svc.UserDeleted(e.ctx, tx, bob, e.clock.Now()) })
	if n := e.count(`SELECT count(*) FROM push_subscriptions`); n != 0 {
		t.Fatalf("%d subscriptions left after both accounts went", n)
	}
}

func TestRegisteringMovesAnEndpointAndKeepsTheNewestTen(t *testing.T) {
	e := newPushEnv(t)
	alice, bob, carol := e.user("alice"), e.user("bob"), e.user("carol")
	shared := e.subscribe(bob, "s")
	e.message(uuid.NewString(), alice, bob, 1, "for bob's eyes")
	// The browser is carol's now: the endpoint moves, and bob's push queued for it does not go.
	if _, err := e.svc.RegisterPushSubscription(e.ctx, carol, "c", notification.PushRegistration{
		Endpoint: shared.Endpoint, P256dh: shared.P256dh, Auth: shared.Auth}); err != nil {
		t.Fatal(err)
	}
	e.disp.RunOnce(e.ctx)
	if n := len(e.ps.Pushes()); n != 0 {
		t.Fatalf("%d pushes of bob's reached the browser carol took over", n)
	}
	if subs, _ := e.svc.ListPushSubscriptions(e.ctx, bob); len(subs) != 0 {
		t.Fatalf("bob still has %d subscriptions", len(subs))
	}
	// Registering again updates the label and keeps the id.
	first, err := e.svc.ListPushSubscriptions(e.ctx, carol)
	if err != nil || len(first) != 1 {
		t.Fatal(first, err)
	}
	again, err := e.svc.RegisterPushSubscription(e.ctx, carol, "c", notification.PushRegistration{
		Endpoint: shared.Endpoint, P256dh: shared.P256dh, Auth: shared.Auth, DeviceLabel: "Phone"})
	if err != nil || again.ID != first[0].ID || again.DeviceLabel != "Phone" {
		t.Fatalf("registering again: %+v, %v", again, err)
	}
	for range notification.MaxPushSubscriptions {
		e.clock.Advance(time.Second)
		e.subscribe(carol, "c")
	}
	subs, err := e.svc.ListPushSubscriptions(e.ctx, carol)
	if err != nil || len(subs) != notification.MaxPushSubscriptions {
		t.Fatalf("%d subscriptions, %v; want %d", len(subs), err, notification.MaxPushSubscriptions)
	}
	for _, s := range subs {
		if s.Endpoint == shared.Endpoint {
			t.Fatal("the least recently registered subscription was kept")
		}
	}
	if err := e.svc.RemovePushSubscription(e.ctx, carol, subs[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RemovePushSubscription(e.ctx, bob, subs[1].ID); err != nil { // not bob's: nothing happens
		t.Fatal(err)
	}
	if left, _ := e.svc.ListPushSubscriptions(e.ctx, carol); len(left) != notification.MaxPushSubscriptions-1 {
		t.Fatalf("%d left after removing one", len(left))
	}
}

// resolver answers every name with one address, as DNS would (no DNS in tests).
type resolver map[string]string

func (r resolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return []netip.Addr{netip.MustParseAddr(a)}, nil
	}
	return nil, errors.New("no such host")
}

func TestRegistrationNamesEveryBadField(t *testing.T) {
	key, _ := webpush.GenerateVAPIDKey()
	// The production guard: no private endpoints.
	sender, err := webpush.NewSender(webpush.Options{Key: key, Subject: "mailto:ops@parley.test",
		Resolver: resolver{"push.example.test": "203.0.113.9", "intranet.example.test": "10.0.0.7"}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *notification.Config) {
		c.Push = &notification.PushConfig{Pusher: &webpush.Notifications{Sender: sender}}
	})
	bob := e.user("bob")
	ps := webpushtest.Start(t, key.PublicKey())
	good := ps.Subscribe()
	register := func(r notification.PushRegistration) error {
		_, err := e.svc.RegisterPushSubscription(e.ctx, bob, "s", r)
		return err
	}
	for _, c := range []struct {
		r    notification.PushRegistration
		want []string
	}{
		{notification.PushRegistration{}, []string{"endpoint: required", "p256dh: required", "auth: required"}},
		{notification.PushRegistration{Endpoint: "http://push.example.test/x", P256dh: good.P256dh, Auth: good.Auth},
			[]string{"endpoint: must be an https URL"}},
		{notification.PushRegistration{Endpoint: "https://127.0.0.1/x", P256dh: good.P256dh, Auth: good.Auth},
			[]string{"endpoint: host 127.0.0.1 is a loopback address"}},
		{notification.PushRegistration{Endpoint: "https://10.1.1.1/x", P256dh: good.P256dh, Auth: good.Auth},
			[]string{"endpoint: host 10.1.1.1 is a private address"}},
		{notification.PushRegistration{Endpoint: "https://169.254.169.254/x", P256dh: good.P256dh, Auth: good.Auth},
			[]string{"endpoint: host 169.254.169.254 is a link-local address"}},
		{notification.PushRegistration{Endpoint: "https://[::1]/x", P256dh: good.P256dh, Auth: good.Auth},
			[]string{"endpoint: host ::1 is a loopback address"}},
		{notification.PushRegistration{Endpoint: "https://intranet.example.test/x", P256dh: good.P256dh, Auth: good.Auth},
			[]string{"endpoint: host intranet.example.test resolves to 10.0.0.7, a private address"}},
		{notification.PushRegistration{Endpoint: ps.URL() + "/push/" + good.ID, P256dh: good.P256dh, Auth: good.Auth},
			[]string{"endpoint: host 127.0.0.1 is a loopback address"}},
		{notification.PushRegistration{Endpoint: "https://push.example.test/x", P256dh: good.P256dh[:20], Auth: "not base64!",
			DeviceLabel: "two\nlines"},
			[]string{"p256dh: must be an uncompressed P-256 public key of 65 bytes, got 15", "auth: must be base64url",
				"device_label: must be a single line"}},
		{notification.PushRegistration{Endpoint: "https://push.example.test/x", P256dh: good.P256dh, Auth: good.Auth + "AAAA"},
			[]string{"auth: must be the authentication secret of 16 bytes, got 19"}},
	} {
		err := register(c.r)
		if !errors.Is(err, domainerr.ErrInvalidArgument) {
			t.Errorf("register %+v = %v; want invalid argument", c.r, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("register %+v = %q; want it to say %q", c.r, err, w)
			}
		}
	}
	if err := register(notification.PushRegistration{Endpoint: "https://push.example.test/x", P256dh: good.P256dh, Auth: good.Auth}); err != nil {
		t.Fatalf("a public endpoint: %v", err)
	}
}

func TestWithoutAVAPIDKeyPushIsOff(t *testing.T) {
	e := newEnv(t)
	bob := e.user("bob")
	if _, err := e.svc.PushPublicKey(); !errors.Is(err, domainerr.ErrFailedPrecondition) {
		t.Fatalf("PushPublicKey = %v; want failed precondition", err)
	}
	if _, err := e.svc.RegisterPushSubscription(e.ctx, bob, "s", notification.PushRegistration{}); !errors.Is(err, domainerr.ErrFailedPrecondition) {
		t.Fatalf("RegisterPushSubscription = %v; want failed precondition", err)
	}
}

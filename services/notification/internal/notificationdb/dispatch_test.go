package notificationdb_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/rueidis"

	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/services/notification/internal/notification"
)

// digestUser is a recipient with message emails on (they are off by default).
func (e *env) digestUser(nick string) string {
	id := e.user(nick)
	e.setPrefs(id, notification.PreferenceChanges{Kinds: []notification.KindPreference{{Kind: notification.KindMessage, InApp: true, Email: true}}})
	return id
}

func TestDigestBatchesAChatsMessagesIntoOneEmail(t *testing.T) {
	e := newEnv(t).withDispatcher()
	alice, bob := e.user("alice"), e.digestUser("bob")
	chat := uuid.NewString()
	for i, text := range []string{"first", "second <b>", "third"} {
		e.message(chat, alice, bob, int64(i+1), text)
		e.clock.Advance(10 * time.Second)
	}
	e.disp.RunOnce(e.ctx)
	if got := e.emails(); len(got) != 0 {
		t.Fatalf("%d emails before the digest is due", len(got))
	}
	e.clock.Advance(digestDelay)
	e.disp.RunOnce(e.ctx)
	got := e.emails()
	if len(got) != 1 {
		t.Fatalf("%d emails; want one digest", len(got))
	}
	d := got[0]
	if d.To != "bob@example.com" || d.Subject != "3 new messages from alice" ||
		!strings.HasSuffix(d.MessageID, "@parley.test") || !strings.Contains(d.HTML, "second &lt;b&gt;") {
		t.Fatalf("digest %+v", d)
	}
	for _, text := range []string{"first", "second <b>", "third", "/chats/" + chat} {
		if !strings.Contains(d.Text, text) {
			t.Errorf("digest text lacks %q:\n%s", text, d.Text)
		}
	}
	if n := e.count(`SELECT count(*) FROM digests`); n != 0 {
		t.Fatalf("%d digests left after sending", n)
	}
	if n := e.count(`SELECT count(*) FROM email_deliveries WHERE state = 'sent'`); n != 1 {
		t.Fatalf("%d deliveries marked sent; want 1", n)
	}
	// The next message starts a new digest.
	e.message(chat, alice, bob, 4, "fourth")
	e.clock.Advance(digestDelay)
	e.disp.RunOnce(e.ctx)
	if got := e.emails(); len(got) != 2 || got[1].Subject != "New message from alice" || strings.Contains(got[1].Text, "third") {
		t.Fatalf("second digest: %+v", got[len(got)-1])
	}
}

func TestDigestFollowsPresenceReadsAndChanges(t *testing.T) {
	e := newEnv(t).withDispatcher()
	alice := e.user("alice")
	chat := func() string { return uuid.NewString() }

	// Came online after the first message: no email.
	online := e.digestUser("online")
	e.message(chat(), alice, online, 1, "x")
	e.seen(online, e.clock.Now().Add(time.Second))

	// Left a minute before the first message: wait until away for OFFLINE_AFTER, then email.
	leaving := e.digestUser("leaving")
	e.seen(leaving, e.clock.Now().Add(-time.Minute))
	e.message(chat(), alice, leaving, 1, "x")

	// Read the chat meanwhile: no email. Read part of it: the rest is emailed.
	reader, partial := e.digestUser("reader"), e.digestUser("partial")
	readChat, partialChat := chat(), chat()
	for seq := int64(1); seq <= 2; seq++ {
		e.message(readChat, alice, reader, seq, fmt.Sprint("r", seq))
		e.message(partialChat, alice, partial, seq, fmt.Sprint("p", seq))
	}
	e.event(func(tx notification.Tx) error { return e.svc.MessagesRead(e.ctx, tx, readChat, reader, 2) })
	e.event(func(tx notification.Tx) error { return e.svc.MessagesRead(e.ctx, tx, partialChat, partial, 1) })

	// Deleted messages are not emailed; edited ones are emailed as edited.
	edits := e.digestUser("edits")
	editChat := chat()
	e.message(editChat, alice, edits, 1, "typo")
	e.message(editChat, alice, edits, 2, "regret")
	e.event(func(tx notification.Tx) error { return e.svc.MessageEdited(e.ctx, tx, editChat, edits, 1, "fixed") })
	e.event(func(tx notification.Tx) error { return e.svc.MessageDeleted(e.ctx, tx, editChat, edits, 2) })

	// Switched message emails off, or muted the chat, before the digest was due: no email.
	optOut, muter := e.digestUser("optout"), e.digestUser("muter")
	muteChat := chat()
	e.message(chat(), alice, optOut, 1, "x")
	e.message(muteChat, alice, muter, 1, "x")
	e.setPrefs(optOut, notification.PreferenceChanges{EmailEnabled: bptr(false)})
	if _, err := e.svc.MuteChat(e.ctx, muter, muteChat, nil); err != nil {
		t.Fatal(err)
	}

	e.clock.Advance(digestDelay + time.Second)
	e.disp.RunOnce(e.ctx)
	to := map[string]sentMail{}
	for _, m := range e.emails() {
		to[strings.TrimSuffix(m.To, "@example.com")] = m
	}
	if len(to) != 2 || !strings.Contains(to["partial"].Text, "p2") || strings.Contains(to["partial"].Text, "p1") ||
		!strings.Contains(to["edits"].Text, "fixed") || strings.Contains(to["edits"].Text, "regret") || strings.Contains(to["edits"].Text, "typo") {
		t.Fatalf("emails at the due time: %v; want partial (p2 only) and edits (fixed only)", to)
	}
	if n := e.count(`SELECT count(*) FROM digests`); n != 1 {
		t.Fatalf("%d digests left; want the leaving user's, postponed", n)
	}
	// The leaving user counts as away four minutes after the first message.
	e.clock.Advance(time.Minute)
	e.disp.RunOnce(e.ctx)
	if len(e.emails()) != 2 {
		t.Fatal("the leaving user was emailed before being away for OFFLINE_AFTER")
	}
	e.clock.Advance(time.Minute)
	e.disp.RunOnce(e.ctx)
	if got := e.emails(); len(got) != 3 || got[2].To != "leaving@example.com" {
		t.Fatalf("emails %v; want the leaving user's last", got)
	}

	// Presence that cannot be read (here: a Redis client already closed) leaves digests for later.
	later := e.digestUser("later")
	e.message(chat(), alice, later, 1, "x")
	e.clock.Advance(digestDelay)
	closed, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{redistest.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	e.dispatcher(closed).RunOnce(e.ctx)
	if len(e.emails()) != 3 || e.count(`SELECT count(*) FROM digests`) != 1 {
		t.Fatal("a digest was decided without presence")
	}
	e.disp.RunOnce(e.ctx)
	if len(e.emails()) != 4 {
		t.Fatal("the digest was not sent once presence answered")
	}
}

func TestDeliveryOutboxSendsOnceAndRetries(t *testing.T) {
	e := newEnv(t).withDispatcher()
	bob := e.user("bob")
	if _, err := e.svc.Notify(e.ctx, notification.NotifyRequest{UserID: bob, Kind: notification.KindSystem, Title: "t", IdempotencyKey: "1"}); err != nil {
		t.Fatal(err)
	}
	// A worker claims it and dies before recording anything.
	first, err := e.store.ClaimDeliveries(e.ctx, e.clock.Now(), time.Minute, 10)
	if err != nil || len(first) != 1 || first[0].Attempt != 1 {
		t.Fatalf("claim: %+v, %v", first, err)
	}
	if again, _ := e.store.ClaimDeliveries(e.ctx, e.clock.Now(), time.Minute, 10); len(again) != 0 {
		t.Fatal("a leased delivery was claimed twice")
	}
	e.disp.RunOnce(e.ctx)
	if len(e.emails()) != 0 {
		t.Fatal("the dispatcher sent a delivery another worker holds")
	}
	// When the lease ends it is sent again, as the same message.
	e.clock.Advance(2*time.Minute + time.Second)
	e.disp.RunOnce(e.ctx)
	sent := e.emails()
	if len(sent) != 1 || sent[0].MessageID != first[0].MessageID {
		t.Fatalf("after the lease: sent %+v; want the claimed email with Message-ID %s", sent, first[0].MessageID)
	}
	// The dead worker's late report changes nothing.
	if err := e.store.FinishDelivery(e.ctx, first[0], notification.DeliveryOutcome{Err: "late"}); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM email_deliveries WHERE state = 'sent' AND attempts = 2`); n != 1 {
		t.Fatal("a stale attempt overwrote the delivery's state")
	}
	e.clock.Advance(time.Hour)
	e.disp.RunOnce(e.ctx)
	if len(e.emails()) != 1 {
		t.Fatal("a sent email was sent again")
	}

	// Temporary failures (451) are retried with backoff, up to MaxAttempts (3 here).
	if _, err := e.svc.Notify(e.ctx, notification.NotifyRequest{UserID: bob, Kind: notification.KindSystem, Title: "t", IdempotencyKey: "2"}); err != nil {
		t.Fatal(err)
	}
	e.mail.SetChaos(t, "Sender", 451, 100)
	e.disp.RunOnce(e.ctx)
	var state, lastErr string
	var attempts int
	var next time.Time
	row := `SELECT state, attempts, next_attempt_at, last_error FROM email_deliveries WHERE dedup_key = 'notify:` + bob + `:2'`
	if err := e.pool.QueryRow(e.ctx, row).Scan(&state, &attempts, &next, &lastErr); err != nil {
		t.Fatal(err)
	}
	if state != "pending" || attempts != 1 || !next.After(e.clock.Now()) || !strings.Contains(lastErr, "451") {
		t.Fatalf("after a failure: %s, %d attempts, next %v (now %v), %q", state, attempts, next, e.clock.Now(), lastErr)
	}
	if n := e.count(`SELECT count(*) FROM email_deliveries WHERE state = 'pending' AND text_body <> '' AND html_body <> ''`); n != 1 {
		t.Fatal("an email waiting for another attempt lost its bodies")
	}
	e.disp.RunOnce(e.ctx)
	if e.count(`SELECT attempts FROM email_deliveries WHERE dedup_key = 'notify:`+bob+`:2'`) != 1 {
		t.Fatal("retried before the backoff ended")
	}
	for range 2 {
		e.clock.Advance(time.Hour)
		e.disp.RunOnce(e.ctx)
	}
	if err := e.pool.QueryRow(e.ctx, row).Scan(&state, &attempts, &next, &lastErr); err != nil || state != "failed" || attempts != 3 {
		t.Fatalf("after MaxAttempts: %s, %d attempts (%v)", state, attempts, err)
	}
	// A rejection (550 to RCPT TO) is final at once.
	e.mail.SetChaos(t, "Sender", 451, 0)
	e.mail.SetChaos(t, "Recipient", 550, 100)
	if _, err := e.svc.Notify(e.ctx, notification.NotifyRequest{UserID: bob, Kind: notification.KindSystem, Title: "t", IdempotencyKey: "3"}); err != nil {
		t.Fatal(err)
	}
	e.disp.RunOnce(e.ctx)
	if n := e.count(`SELECT count(*) FROM email_deliveries WHERE state = 'failed' AND attempts = 1 AND last_error LIKE '%550%'`); n != 1 {
		t.Fatalf("%d rejected deliveries failed after one attempt; want 1", n)
	}
	if len(e.emails()) != 1 {
		t.Fatal("a refused email reached the server's mailbox")
	}
	// Finished deliveries, sent or failed, keep no bodies (a reset link's token, say).
	if n := e.count(`SELECT count(*) FROM email_deliveries WHERE text_body <> '' OR html_body <> ''`); n != 0 {
		t.Fatalf("%d finished deliveries kept their bodies", n)
	}
	if n, err := e.store.Cleanup(e.ctx, e.clock.Now().Add(31*24*time.Hour), notification.Retention{Deliveries: 30 * 24 * time.Hour, NotifyKeys: notification.NotifyKeyRetention}); err != nil || n != 6 {
		t.Fatalf("clean-up removed %d rows (%v); want 3 deliveries and 3 keys", n, err)
	}
}

// claimSpy records how many emails a dispatcher claims at once.
type claimSpy struct {
	notification.Store
	most int
}

func (s *claimSpy) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]notification.Delivery, error) {
	s.most = max(s.most, limit)
	return s.Store.ClaimDeliveries(ctx, now, lease, limit)
}

// TestDispatcherClaimsNoMoreThanItSends: a lease starts at the claim, so an email claimed only to
// wait behind others could outlive its lease on a slow mail server and be sent again by another
// replica. A dispatcher claims at most Concurrency emails at a time, and still sends a backlog.
func TestDispatcherClaimsNoMoreThanItSends(t *testing.T) {
	e := newEnv(t)
	bob := e.user("bob")
	for i := range 9 {
		if _, err := e.svc.Notify(e.ctx, notification.NotifyRequest{UserID: bob, Kind: notification.KindSystem, Title: "t", IdempotencyKey: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	spy := &claimSpy{Store: e.store}
	d := e.dispatcherWith(spy, 4)
	d.RunOnce(e.ctx)
	if spy.most == 0 || spy.most > 4 {
		t.Fatalf("claimed up to %d emails at once; want at most Concurrency (4)", spy.most)
	}
	if got := len(e.emails()); got != 9 {
		t.Fatalf("sent %d of 9 emails", got)
	}
}

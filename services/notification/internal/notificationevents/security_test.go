package notificationevents_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/waittest"
	"github.com/parleyhq/parley/services/notification/internal/notification"
)

// A password change reaches its owner by email even with every kind's email switched off, once
// per event however often it is delivered, and raises nothing in the app.
func TestPasswordChangedSendsASecurityNoticeWhateverThePreferences(t *testing.T) {
	h := start(t, 200*time.Millisecond)
	dan := h.register("dan")
	h.waitKnown(dan)
	var off []notification.KindPreference
	for _, k := range notification.Kinds {
		off = append(off, notification.KindPreference{Kind: k, InApp: false, Email: false})
	}
	if _, err := h.svc.UpdatePreferences(h.ctx, dan, notification.PreferenceChanges{Kinds: off}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 21, 7, 0, 0, time.UTC)
	changed := &eventsv1.PasswordChanged{UserId: dan, SessionId: uuid.NewString(), ChangedAt: timestamppb.New(at)}
	id := uuid.NewString()
	h.produce(eventstest.Record(topics.Auth, dan, id, changed), eventstest.Record(topics.Auth, dan, id, changed))
	// A second, later change is a second notice.
	h.produce(eventstest.Record(topics.Auth, dan, uuid.NewString(), changed))

	waittest.Until(t, "two security notices sent", func() bool {
		return h.count(`SELECT count(*) FROM email_deliveries WHERE state = 'sent'`) == 2
	})
	mails := h.mailTo("dan@example.com")
	if len(mails) != 2 {
		t.Fatalf("%d emails to dan; want 2 (one per PasswordChanged event)", len(mails))
	}
	full := h.mail.Message(t, mails[0].ID)
	if full.Subject != "Your Parley password was changed" ||
		!contains(full.Text, "Hi dan,", "changed on 2 Dec 21:07 UTC", "If you did not", "http://localhost:8080/settings/sessions",
			"This is a security notice: Parley sends these whatever your email settings.") ||
		strings.Contains(full.Text, "Change what Parley emails you") ||
		!contains(full.HTML, "<strong>2 Dec 21:07 UTC</strong>", `href="http://localhost:8080/settings/sessions"`) {
		t.Fatalf("security notice %+v", full)
	}
	if n := h.notifications(dan); n != 0 {
		t.Fatalf("%d notifications in the app for a password change; want none", n)
	}
}

// An address nobody confirmed gets no notification emails (someone may have signed up with another
// person's address); once EmailVerified arrives, it does.
func TestOnlyVerifiedAddressesGetNotificationEmails(t *testing.T) {
	h := start(t, 200*time.Millisecond)
	alice := h.register("alice")
	eve := uuid.NewString()
	h.produce(eventstest.Record(topics.Auth, eve, uuid.NewString(), &eventsv1.UserRegistered{
		UserId: eve, Nickname: "eve", Email: "eve@example.com", Method: "password", RegisteredAt: timestamppb.Now()}))
	h.waitKnown(alice)
	first := &eventsv1.FriendRequestSent{RequestId: uuid.NewString(), FromUserId: alice, ToUserId: eve, FromNickname: "alice"}
	h.produce(eventstest.Record(topics.Friend, eve, uuid.NewString(), first))
	waittest.Until(t, "the first request's notification", func() bool { return h.notifications(eve) == 1 })
	if n := h.count(`SELECT count(*) FROM email_deliveries`); n != 0 {
		t.Fatalf("%d emails queued for an unverified address", n)
	}

	h.produce(eventstest.Record(topics.Auth, eve, uuid.NewString(), &eventsv1.EmailVerified{UserId: eve, Email: "eve@example.com", VerifiedAt: timestamppb.Now()}))
	second := &eventsv1.FriendRequestSent{RequestId: uuid.NewString(), FromUserId: alice, ToUserId: eve, FromNickname: "alice"}
	h.produce(eventstest.Record(topics.Friend, eve, uuid.NewString(), second))
	waittest.Until(t, "the email after verification", func() bool { return len(h.mailTo("eve@example.com")) == 1 })
}

// The notice goes to the address auth gives in the event, confirmed or not (an attacker who
// changed the password of an unconfirmed account must not silence it), and a reset by email says
// so — every session ended, the mailbox itself may be in other hands.
func TestPasswordNoticeReachesUnverifiedAddressesAndTellsAResetApart(t *testing.T) {
	h := start(t, 200*time.Millisecond)
	fay := uuid.NewString()
	h.produce(eventstest.Record(topics.Auth, fay, uuid.NewString(), &eventsv1.UserRegistered{
		UserId: fay, Nickname: "fay", Email: "fay@example.com", Method: "password", RegisteredAt: timestamppb.Now()}))
	h.produce(eventstest.Record(topics.Auth, fay, uuid.NewString(), &eventsv1.PasswordChanged{
		UserId: fay, ChangedAt: timestamppb.New(time.Date(2026, 12, 2, 22, 15, 0, 0, time.UTC)), Reason: "password_reset", Email: "fay@example.com"}))
	waittest.Until(t, "the reset notice", func() bool { return len(h.mailTo("fay@example.com")) == 1 })
	full := h.mail.Message(t, h.mailTo("fay@example.com")[0].ID)
	if full.Subject != "Your Parley password was changed" ||
		!contains(full.Text, "was reset on 2 Dec 22:15 UTC with a link sent to this address", "Every device that was signed in has been signed out",
			"secure your email account", "http://localhost:8080/reset-password") || strings.Contains(full.Text, "stays signed in") {
		t.Fatalf("reset notice %+v", full)
	}
}

package notificationevents_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/waittest"
)

// userRows counts every row that names the user: theirs (recipient, preferences, mutes,
// notifications, Notify keys, digests, email deliveries) and the ones about them in other people's
// notifications and digests.
func (h *harness) userRows(userID string) map[string]int {
	return map[string]int{
		"recipients":       h.count(`SELECT count(*) FROM recipients WHERE user_id = $1`, userID),
		"kind_preferences": h.count(`SELECT count(*) FROM kind_preferences WHERE user_id = $1`, userID),
		"muted_chats":      h.count(`SELECT count(*) FROM muted_chats WHERE user_id = $1`, userID),
		"notifications":    h.count(`SELECT count(*) FROM notifications WHERE user_id = $1 OR actor_user_id = $1::text`, userID),
		"notify_requests":  h.count(`SELECT count(*) FROM notify_requests WHERE user_id = $1`, userID),
		"digests":          h.count(`SELECT count(*) FROM digests WHERE user_id = $1`, userID),
		"digest_messages":  h.count(`SELECT count(*) FROM digest_messages WHERE sender_id = $1`, userID),
		"email_deliveries": h.count(`SELECT count(*) FROM email_deliveries WHERE user_id = $1`, userID),
	}
}

// TestUserDeletedErasesNotificationsAndEmail: a deleted user's address, preferences, mutes,
// notifications, digests and queued email go, and so do other people's notifications and digest
// entries that stand for them; the rest stays. Late events about them — on other topics, so in no
// order with the deletion — store nothing again.
func TestUserDeletedErasesNotificationsAndEmail(t *testing.T) {
	h := start(t, time.Hour) // digests wait: they are still queued when the user is deleted
	alice, bob, carol := h.register("alice"), h.register("bob"), h.register("carol")
	h.waitKnown(alice, bob, carol)
	h.enableMessageEmail(alice, bob)
	if _, err := h.svc.MuteChat(h.ctx, alice, uuid.NewString(), nil); err != nil {
		t.Fatal(err)
	}
	chatAB, chatBC := uuid.NewString(), uuid.NewString()
	h.produce(
		eventstest.Record(topics.Friend, alice, uuid.NewString(), &eventsv1.FriendRequestSent{RequestId: uuid.NewString(), FromUserId: carol, ToUserId: alice, FromNickname: "carol", SentAt: timestamppb.Now()}),
		eventstest.Record(topics.Chat, chatAB, uuid.NewString(), messageSent(chatAB, alice, bob, 1, "a secret from alice")),
		eventstest.Record(topics.Chat, chatAB, uuid.NewString(), messageSent(chatAB, bob, alice, 2, "hi alice")),
		eventstest.Record(topics.Chat, chatBC, uuid.NewString(), messageSent(chatBC, carol, bob, 1, "hi bob")),
	)
	waittest.Until(t, "notifications, digests and the friend request email", func() bool {
		r := h.userRows(alice)
		return r["notifications"] == 3 && r["digests"] == 1 && r["digest_messages"] == 1 && r["email_deliveries"] == 1 &&
			h.notifications(bob) == 2
	})
	for table, n := range h.userRows(alice) {
		if n == 0 && table != "notify_requests" { // Notify is not called here
			t.Fatalf("setup: no %s row of alice", table)
		}
	}

	deletion := uuid.NewString()
	h.produce(eventstest.Record(topics.Auth, alice, deletion, &eventsv1.UserDeleted{UserId: alice, DeletedAt: timestamppb.Now()}))
	waittest.Until(t, "alice erased", func() bool { return h.count(`SELECT count(*) FROM recipients WHERE user_id = $1`, alice) == 0 })
	for table, n := range h.userRows(alice) {
		if n != 0 {
			t.Errorf("%d %s rows of alice remain", n, table)
		}
	}
	if n := h.count(`SELECT count(*) FROM deleted_users WHERE user_id = $1`, alice); n != 1 {
		t.Fatalf("%d tombstones, want 1", n)
	}
	// Bob keeps carol's message: its notification and its digest.
	if n := h.notifications(bob); n != 1 {
		t.Errorf("bob has %d notifications, want carol's only", n)
	}
	if n := h.count(`SELECT count(*) FROM digests d JOIN digest_messages m USING (digest_id) WHERE d.user_id = $1 AND m.sender_id = $2`, bob, carol); n != 1 {
		t.Errorf("bob's digest of carol's message: %d rows, want 1", n)
	}

	// Late and repeated events about alice, each followed on its topic and key by a sentinel.
	dave := uuid.NewString()
	h.produce(
		eventstest.Record(topics.Auth, alice, deletion, &eventsv1.UserDeleted{UserId: alice, DeletedAt: timestamppb.Now()}),
		eventstest.Record(topics.Auth, alice, uuid.NewString(), &eventsv1.UserRegistered{UserId: alice, Nickname: "alice", Email: "alice@example.com", EmailVerified: true}),
		eventstest.Record(topics.Auth, alice, uuid.NewString(), &eventsv1.EmailVerified{UserId: alice, Email: "alice@example.com"}),
		eventstest.Record(topics.Auth, alice, uuid.NewString(), &eventsv1.PasswordChanged{UserId: alice, ChangedAt: timestamppb.Now()}),
		eventstest.Record(topics.Auth, alice, uuid.NewString(), &eventsv1.UserRegistered{UserId: dave, Nickname: "dave", Email: "dave@example.com", EmailVerified: true}),
		eventstest.Record(topics.Profile, alice, uuid.NewString(), &eventsv1.ProfileUpdated{UserId: alice, Nickname: "ghost", Version: 9}),
		eventstest.Record(topics.Profile, alice, uuid.NewString(), &eventsv1.ProfileUpdated{UserId: carol, Nickname: "carol2", Version: 9}),
		eventstest.Record(topics.Chat, chatAB, uuid.NewString(), messageSent(chatAB, alice, bob, 3, "late from alice")),
		eventstest.Record(topics.Chat, chatAB, uuid.NewString(), messageSent(chatAB, bob, alice, 4, "late to alice")),
		eventstest.Record(topics.Chat, chatAB, uuid.NewString(), messageSent(chatAB, carol, bob, 5, "sentinel")),
		eventstest.Record(topics.Friend, carol, uuid.NewString(), &eventsv1.FriendRequestSent{RequestId: uuid.NewString(), FromUserId: alice, ToUserId: carol, FromNickname: "alice"}),
		eventstest.Record(topics.Friend, carol, uuid.NewString(), &eventsv1.FriendAccepted{RequestId: uuid.NewString(), RequesterId: carol, AccepterId: alice, AccepterNickname: "alice"}),
		eventstest.Record(topics.Friend, carol, uuid.NewString(), &eventsv1.FriendRequestSent{RequestId: uuid.NewString(), FromUserId: dave, ToUserId: carol, FromNickname: "dave"}),
	)
	waittest.Until(t, "the sentinels", func() bool {
		return h.count(`SELECT count(*) FROM recipients WHERE user_id = $1 AND email <> ''`, dave) == 1 &&
			h.count(`SELECT count(*) FROM recipients WHERE user_id = $1 AND nickname = 'carol2'`, carol) == 1 &&
			h.count(`SELECT count(*) FROM notifications WHERE user_id = $1 AND actor_user_id = $2::text`, bob, carol) == 2 &&
			h.count(`SELECT count(*) FROM notifications WHERE user_id = $1 AND actor_user_id = $2::text`, carol, dave) == 1
	})
	for table, n := range h.userRows(alice) {
		if n != 0 {
			t.Errorf("late events brought back %d %s rows of alice", n, table)
		}
	}
	// The friend request email went out before the deletion; the password notice after it did not.
	if got := h.mailTo("alice@example.com"); len(got) > 1 {
		t.Errorf("%d emails to alice; want only the friend request sent before her deletion", len(got))
	}
}

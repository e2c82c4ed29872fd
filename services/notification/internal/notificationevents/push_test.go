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

// TestSessionRevokedRemovesThatSessionsPushSubscriptions: auth's SessionRevoked (logout and every
// other end of a session) removes the push subscriptions that session registered, and only those.
func TestSessionRevokedRemovesThatSessionsPushSubscriptions(t *testing.T) {
	h := start(t, time.Hour)
	bob := uuid.NewString()
	// Registered as RegisterPushSubscription stores them (the RPC path is tested in notificationdb
	// and notificationrpc; this service's harness has no push channel).
	for i, session := range []string{"session-out", "session-out", "session-kept"} {
		if _, err := h.pool.Exec(h.ctx, `INSERT INTO push_subscriptions (subscription_id, user_id, endpoint, p256dh, auth, session_id,
				created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, now(), now())`,
			uuid.NewString(), bob, "https://push.example.test/"+string(rune('a'+i)), make([]byte, 65), make([]byte, 16), session); err != nil {
			t.Fatal(err)
		}
	}
	h.produce(eventstest.Record(topics.Auth, bob, uuid.NewString(), &eventsv1.SessionRevoked{UserId: bob, SessionId: "session-out",
		Reason: "logout", RevokedAt: timestamppb.Now()}))
	waittest.Until(t, "the logged-out session's subscriptions to go", func() bool {
		return h.count(`SELECT count(*) FROM push_subscriptions WHERE user_id = $1 AND session_id = 'session-out'`, bob) == 0
	})
	if n := h.count(`SELECT count(*) FROM push_subscriptions WHERE user_id = $1 AND session_id = 'session-kept'`, bob); n != 1 {
		t.Fatalf("%d subscriptions of the other session left; want 1", n)
	}
}

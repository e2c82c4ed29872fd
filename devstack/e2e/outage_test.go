package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	notificationv1 "github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1"
)

// testBrokerOutage stops the Kafka-protocol broker in the middle of a conversation: sending keeps
// working (messages are durable in chat's database and its outbox), and when the broker comes back
// every message reaches the recipient's socket once, in order, and the notification counts them
// all.
func testBrokerOutage(t *testing.T) {
	ctx := context.Background()
	c := newClients()
	alice, bob := signUp(t, c, "alice"), signUp(t, c, "bob")
	befriend(t, c, alice, bob)
	bobWS := connectWS(t, gatewayURL, bob.token, false)
	first := eventually(t, "a chat", func() (*chatv1.SendMessageResponse, error) {
		return msgOf(c.chat.SendMessage(ctx, withToken(&chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_UserId{UserId: bob.id}, ClientMsgId: uuid.NewString(), Text: "before"}, alice.token)))
	}).GetMessage()
	bobWS.expect(t, "message", func(f frame) bool { return f.Num("seq") == first.GetSeq() })
	chatID := first.GetChatId()

	if err := stk.StopKafka(); err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for i := range 5 {
		seqs = append(seqs, sendText(t, c, alice, chatID, fmt.Sprintf("during the outage %d", i)).GetSeq())
	}
	time.Sleep(2 * time.Second) // the outage lasts a while; nothing is asserted about this interval
	if err := stk.StartKafka(); err != nil {
		t.Fatal(err)
	}
	after := sendText(t, c, alice, chatID, "after").GetSeq()
	seqs = append(seqs, after)

	// Exactly the missed messages, in order, then the one sent afterwards: no gap, no duplicate.
	for _, want := range seqs {
		f := bobWS.expectWithin(t, 30*time.Second, "message", func(f frame) bool { return f.Str("chat_id") == chatID })
		if f.Num("seq") != want {
			t.Fatalf("after the outage got seq %d, want %d", f.Num("seq"), want)
		}
	}

	// The message notification collapsed them all: 1 before + 5 during + 1 after.
	eventually(t, "the notification counting every message", func() (*notificationv1.Notification, error) {
		list, err := notificationsOf(ctx, c, bob)
		if err != nil {
			return nil, err
		}
		for _, n := range list {
			if n.GetKind() == notificationv1.NotificationKind_NOTIFICATION_KIND_MESSAGE && n.GetSubjectId() == chatID {
				if n.GetCount() != int32(len(seqs)+1) {
					return nil, fmt.Errorf("message notification counts %d, want %d", n.GetCount(), len(seqs)+1)
				}
				return n, nil
			}
		}
		return nil, fmt.Errorf("no message notification yet among %d", len(list))
	})
}

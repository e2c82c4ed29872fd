package fanout

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/platform/events"
)

// The frames are a wire format clients parse: these pin two of them byte for byte, and who gets
// a decline and a cancellation.
func TestFramesAndRecipients(t *testing.T) {
	ev := events.Event{ID: "ev-1"}
	at := time.Date(2026, 12, 2, 20, 0, 0, 0, time.UTC)

	frame, to := messageEdited(ev, &eventsv1.MessageEdited{
		ChatId: "c", MessageId: "m", Seq: 3, SenderId: "s", RecipientId: "r", Text: "", EditedAt: timestamppb.New(at),
	})
	b, err := json.Marshal(frame)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"message_edited","id":"ev-1","chat_id":"c","message_id":"m","seq":3,"sender_id":"s","text":"","edited_at":"2026-12-02T20:00:00Z"}`
	if string(b) != want || !slices.Equal(to, []string{"s", "r"}) {
		t.Fatalf("message_edited = %s to %v\nwant %s to [s r]", b, to, want)
	}

	frame, to = friendDeclined(ev, &eventsv1.FriendDeclined{RequestId: "q", RequesterId: "a", RecipientId: "b"})
	b, err = json.Marshal(frame)
	if err != nil {
		t.Fatal(err)
	}
	want = `{"type":"friend_declined","id":"ev-1","request_id":"q","requester_id":"a","recipient_id":"b","cancelled":false}`
	if string(b) != want || !slices.Equal(to, []string{"b"}) {
		t.Fatalf("a decline = %s to %v\nwant %s to [b] only (the sender is not told)", b, to, want)
	}
	if _, to = friendDeclined(ev, &eventsv1.FriendDeclined{RequesterId: "a", RecipientId: "b", Cancelled: true}); !slices.Equal(to, []string{"b", "a"}) {
		t.Fatalf("a cancellation goes to %v, want both [b a]", to)
	}
}

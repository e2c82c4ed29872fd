package chatdb_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
)

// The send path's statement completes MessageSent's payload with the fields only it knows (seq,
// recipient_id, sent_at), encoded by migration 0004's functions. Whatever the values — one-byte
// and many-byte varints, whole seconds and microseconds, old and far-future times — the payload
// must decode to exactly the message Go would have encoded with those fields set.
func TestMessageSentTailDecodesLikeTheGoEncoding(t *testing.T) {
	_, pool := newStore(t)
	ctx := context.Background()
	recipient := newID()
	times := []time.Time{
		time.Date(2026, 12, 2, 16, 30, 0, 0, time.UTC),                  // no fraction: nanos omitted
		time.Date(2026, 12, 2, 16, 30, 1, 123456000, time.UTC),          // microseconds
		time.Date(1970, 1, 1, 0, 0, 1, 1000, time.UTC),                  // one-byte seconds
		time.Date(2001, 9, 9, 1, 46, 40, 999999000, time.UTC),           // the last microsecond of a second
		time.Date(9999, 12, 31, 23, 59, 59, 500000000, time.UTC),        // far future
		time.Now().UTC().Truncate(time.Microsecond),                     // now, as the database clock gives it
		time.Date(2026, 1, 1, 0, 0, 0, 1000, time.FixedZone("x", 3600)), // another zone: same instant
	}
	for _, seq := range []int64{1, 127, 128, 300, 16383, 16384, 1 << 31, 1<<62 + 12345} {
		for _, at := range times {
			prefix := &eventsv1.MessageSent{
				ChatId: newID(), MessageId: newID(), SenderId: newID(), Text: "hé 👋", ClientMsgId: newID(),
				Attachments: []*eventsv1.Attachment{{FileId: newID(), Name: "a.png", SizeBytes: 42, ContentType: "image/png"}},
			}
			b, err := proto.Marshal(prefix)
			if err != nil {
				t.Fatal(err)
			}
			var payload []byte
			if err := pool.QueryRow(ctx, `SELECT $1::bytea || message_sent_tail($2, $3, $4)`, b, seq, recipient, at).Scan(&payload); err != nil {
				t.Fatalf("seq %d at %v: %v", seq, at, err)
			}
			var got eventsv1.MessageSent
			if err := proto.Unmarshal(payload, &got); err != nil {
				t.Fatalf("seq %d at %v: the completed payload does not decode: %v", seq, at, err)
			}
			want := proto.Clone(prefix).(*eventsv1.MessageSent)
			want.Seq, want.RecipientId, want.SentAt = seq, recipient, timestamppb.New(at)
			if !proto.Equal(&got, want) {
				t.Fatalf("seq %d at %v: decoded %v, want %v", seq, at, &got, want)
			}
		}
	}
	var err error
	if _, err = pool.Exec(ctx, `SELECT pb_varint(-1)`); err == nil {
		t.Fatal("pb_varint accepted a negative number; varints here are never negative")
	}
}

package mediarpc_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	mediav1 "github.com/parleyhq/parley/contracts/gen/go/parley/media/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/rpctest"
	"github.com/parleyhq/parley/platform/waittest"
	"github.com/parleyhq/parley/services/media/internal/mediadb"
	"github.com/parleyhq/parley/services/media/internal/mediaevents"
	"github.com/parleyhq/parley/services/media/internal/mediatest"
	"github.com/parleyhq/parley/services/media/internal/s3test"
)

// TestUserDeletedDeletesEveryFile: once UserDeleted is consumed, none of the deleted user's files
// can be fetched (GetFile, signed URLs, thumbnails) and no new upload starts; the janitor then
// removes every object — originals, thumbnails, upload keys — and every row. Another user's files
// are untouched. The event is published before the consumer starts: a media service that was
// down catches up.
func TestUserDeletedDeletesEveryFile(t *testing.T) {
	e := setup(t)
	png := mediatest.PNG(t, mediatest.TwoColour(300, 200))
	avatarID := e.upload(t, e.alice, avatar, "me.png", "image/png", png, "")
	a := e.mustComplete(t, e.alice, avatarID)
	attachID := e.upload(t, e.alice, attachment, "notes.txt", "text/plain", []byte("alice's notes"), e.chatID)
	f := e.mustComplete(t, e.alice, attachID)
	pendingID := e.create(t, e.alice, attachment, "later.txt", "text/plain", 5, e.chatID).GetFileId()
	bobID := e.upload(t, e.bob, attachment, "bob.txt", "text/plain", []byte("bob's"), e.chatID)
	e.mustComplete(t, e.bob, bobID)
	urls := []string{a.GetUrl(), a.GetThumbnail_64Url(), a.GetThumbnail_256Url(), f.GetUrl()}
	for _, u := range urls {
		if res, _ := fetch(t, u); res.StatusCode != 200 {
			t.Fatalf("before deletion GET %s: %d", u, res.StatusCode)
		}
	}

	_, brokers := kafkatest.New(t)
	rec := eventstest.Record(topics.Auth, e.alice, uuid.NewString(), &eventsv1.UserDeleted{UserId: e.alice, DeletedAt: timestamppb.Now()})
	// Twice under the same event id: a redelivery.
	kafkatest.Produce(t, kafkatest.Producer(t, brokers), rec, rec)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	consumer, err := events.NewConsumer(events.ConsumerConfig{Brokers: brokers, Group: mediaevents.Group, Topics: mediaevents.Topics,
		Pool: e.pool, Logger: logger, RetryBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	mediaevents.Register(consumer, mediadb.New(e.pool, events.NewOutbox("media")), logger)
	eventstest.Run(t, consumer)
	waittest.Until(t, "alice's files marked deleted", func() bool {
		return e.count(t, `SELECT count(*) FROM files WHERE owner_id = $1 AND status <> 'deleted'`, e.alice) == 0
	})

	// Nothing of alice's is served from the commit on, to her or anyone.
	for _, id := range []string{avatarID, attachID, pendingID} {
		for _, who := range []string{e.alice, e.bob} {
			_, err := e.getFile(t, who, id)
			rpctest.WantCode(t, err, connect.CodeNotFound, "")
		}
	}
	for _, u := range urls {
		if res, _ := fetch(t, u); res.StatusCode != 404 && res.StatusCode != 403 && res.StatusCode != 410 {
			t.Errorf("after deletion GET %s: %d", u, res.StatusCode)
		}
	}
	_, err = e.client.CreateUpload(context.Background(), as(t, e, e.alice, &mediav1.CreateUploadRequest{
		Purpose: attachment, FileName: "x.txt", ContentType: "text/plain", SizeBytes: 1, ChatId: e.chatID}))
	rpctest.WantCode(t, err, connect.CodePermissionDenied, "your account was deleted")

	// The janitor removes every object and row of alice's; bob's stay.
	st, err := e.svc.Sweep(context.Background(), 24*time.Hour)
	if err != nil || st.Deleted != 3 {
		t.Fatalf("sweep %+v, %v; want alice's 3 files deleted", st, err)
	}
	if n := e.count(t, `SELECT count(*) FROM files WHERE owner_id = $1`, e.alice); n != 0 {
		t.Fatalf("%d rows of alice's files remain", n)
	}
	if n := e.count(t, `SELECT count(*) FROM deleted_users WHERE user_id = $1`, e.alice); n != 1 {
		t.Fatalf("%d tombstones, want 1", n)
	}
	keys := s3test.Keys(t, e.bucket)
	for _, k := range keys {
		for _, id := range []string{avatarID, attachID, pendingID} {
			if strings.Contains(k, id) {
				t.Errorf("object %s of alice's remains", k)
			}
		}
	}
	if !strings.Contains(strings.Join(keys, ","), bobID) {
		t.Fatalf("bob's objects went too: %v", keys)
	}
	if _, err := e.getFile(t, e.bob, bobID); err != nil {
		t.Fatalf("bob's file: %v", err)
	}
}

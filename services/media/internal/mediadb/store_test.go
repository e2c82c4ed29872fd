package mediadb_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/services/media/internal/media"
	"github.com/parleyhq/parley/services/media/internal/mediadb"
)

func newStore(t *testing.T) (*mediadb.Store, *pgxpool.Pool) {
	t.Helper()
	pool := eventstest.NewDB(t, "media", mediadb.Migrations)
	return mediadb.New(pool, events.NewOutbox("media")), pool
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func pending(owner string, size int64) media.File {
	return media.File{ID: uuid.NewString(), OwnerID: owner, Purpose: media.PurposeAvatar, Status: media.StatusPending,
		Name: "me.png", DeclaredType: "image/png", DeclaredSize: size, CreatedAt: t0, UploadExpiresAt: t0.Add(15 * time.Minute)}
}

func TestQuota(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	alice := uuid.NewString()
	a := pending(alice, 60)
	if err := s.Create(ctx, a, 100, 10, t0); err != nil {
		t.Fatal(err)
	}
	err := s.Create(ctx, pending(alice, 41), 100, 10, t0)
	if !errors.Is(err, domainerr.ErrResourceExhausted) || err.Error() != "storage quota exceeded: this upload needs 41 bytes but only 40 bytes of your 100 bytes are free; delete files to make room" {
		t.Fatalf("over quota: %v", err)
	}
	if err := s.Create(ctx, pending(alice, 40), 100, 10, t0); err != nil {
		t.Fatalf("exactly full: %v", err)
	}
	// Someone else's quota is their own.
	if err := s.Create(ctx, pending(uuid.NewString(), 100), 100, 10, t0); err != nil {
		t.Fatal(err)
	}
	// Sizes that round to the same text are given in bytes: "needs 5 MiB but only 5 MiB are free"
	// would say nothing.
	bob := uuid.NewString()
	if err := s.Create(ctx, pending(bob, 1<<20), 6<<20, 10, t0); err != nil {
		t.Fatal(err)
	}
	err = s.Create(ctx, pending(bob, 5<<20+1), 6<<20, 10, t0)
	if !errors.Is(err, domainerr.ErrResourceExhausted) || err.Error() != "storage quota exceeded: this upload needs 5242881 bytes but only 5242880 bytes of your 6 MiB are free; delete files to make room" {
		t.Fatalf("over quota by one byte: %v", err)
	}
	used, reserved, err := s.Usage(ctx, alice, t0)
	if err != nil || used != 0 || reserved != 100 {
		t.Fatalf("usage %d %d %v", used, reserved, err)
	}
	// Ready files count their stored size; expired reservations count nothing.
	if _, err := s.MarkReady(ctx, a.ID, media.Ready{ContentType: "image/png", Size: 30}, t0); err != nil {
		t.Fatal(err)
	}
	if used, reserved, _ = s.Usage(ctx, alice, t0); used != 30 || reserved != 40 {
		t.Fatalf("usage after ready %d %d", used, reserved)
	}
	later := t0.Add(16 * time.Minute)
	if used, reserved, _ = s.Usage(ctx, alice, later); used != 30 || reserved != 0 {
		t.Fatalf("usage after expiry %d %d", used, reserved)
	}
	if err := s.Create(ctx, pending(alice, 70), 100, 10, later); err != nil {
		t.Fatalf("room freed by expiry: %v", err)
	}
	// Deleted files count nothing.
	if ok, err := s.MarkDeleted(ctx, alice, a.ID, later); !ok || err != nil {
		t.Fatalf("delete: %v %v", ok, err)
	}
	if used, _, _ = s.Usage(ctx, alice, later); used != 0 {
		t.Fatalf("usage after delete %d", used)
	}
}

func TestPendingLimitAndConcurrentReservations(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	bob := uuid.NewString()
	// 12 racing reservations of 20 bytes against a 100-byte quota: exactly 5 fit.
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, full := 0, 0
	for range 12 {
		wg.Go(func() {
			err := s.Create(ctx, pending(bob, 20), 100, 50, t0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, domainerr.ErrResourceExhausted):
				full++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok != 5 || full != 7 {
		t.Fatalf("%d reserved, %d refused; want 5 and 7", ok, full)
	}
	carol := uuid.NewString()
	for range 3 {
		if err := s.Create(ctx, pending(carol, 1), 1000, 3, t0); err != nil {
			t.Fatal(err)
		}
	}
	err := s.Create(ctx, pending(carol, 1), 1000, 3, t0)
	if !errors.Is(err, domainerr.ErrResourceExhausted) || err.Error() != "too many uploads pending (3); complete or wait for them to expire (at most 3 at once)" {
		t.Fatalf("pending limit: %v", err)
	}
}

func outbox(t *testing.T, pool *pgxpool.Pool) []*eventsv1.FileUploaded {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT key, topic, ce_type, payload FROM outbox ORDER BY event_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []*eventsv1.FileUploaded
	for rows.Next() {
		var key, topic, ceType string
		var payload []byte
		if err := rows.Scan(&key, &topic, &ceType, &payload); err != nil {
			t.Fatal(err)
		}
		var ev eventsv1.FileUploaded
		if err := proto.Unmarshal(payload, &ev); err != nil || topic != "parley.media.v1" || ceType != "parley.events.v1.FileUploaded" || key != ev.GetOwnerId() {
			t.Fatalf("outbox row %s %s %s %v", topic, ceType, key, err)
		}
		out = append(out, &ev)
	}
	return out
}

func TestReadyRejectedDeleted(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	owner := uuid.NewString()
	f := pending(owner, 10)
	f.Purpose, f.ChatID = media.PurposeAttachment, uuid.NewString()
	if err := s.Create(ctx, f, 0, 0, t0); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, f.ID)
	if err != nil || got.Status != media.StatusPending || got.ChatID != f.ChatID || !got.UploadExpiresAt.Equal(f.UploadExpiresAt) || !got.ReadyAt.IsZero() {
		t.Fatalf("get %+v %v", got, err)
	}
	r := media.Ready{ContentType: "image/jpeg", Size: 9, Width: 3, Height: 2, ThumbType: "image/jpeg"}
	got, err = s.MarkReady(ctx, f.ID, r, t0.Add(time.Minute))
	if err != nil || got.Status != media.StatusReady || got.ContentType != "image/jpeg" || got.Size != 9 || got.Width != 3 || got.ThumbType != "image/jpeg" || !got.ReadyAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("ready %+v %v", got, err)
	}
	// Completing again, or rejecting now, changes nothing and publishes nothing more.
	if again, err := s.MarkReady(ctx, f.ID, media.Ready{Size: 1}, t0); err != nil || again.Size != 9 {
		t.Fatalf("ready again %+v %v", again, err)
	}
	if rej, err := s.MarkRejected(ctx, f.ID, media.Rejection{Reason: media.ReasonTooLarge}, t0); err != nil || rej.Status != media.StatusReady {
		t.Fatalf("reject a ready file %+v %v", rej, err)
	}
	evs := outbox(t, pool)
	if len(evs) != 1 || evs[0].GetFileId() != f.ID || evs[0].GetPurpose() != "attachment" || evs[0].GetSizeBytes() != 9 || evs[0].GetContentType() != "image/jpeg" {
		t.Fatalf("events %v", evs)
	}

	g := pending(owner, 10)
	_ = s.Create(ctx, g, 0, 0, t0)
	rej := media.Rejection{Reason: media.ReasonTypeMismatch, Message: "nope"}
	if got, err := s.MarkRejected(ctx, g.ID, rej, t0); err != nil || got.Status != media.StatusRejected || got.Rejection != rej {
		t.Fatalf("rejected %+v %v", got, err)
	}
	if len(outbox(t, pool)) != 1 {
		t.Fatal("a rejection published an event")
	}

	// Only the owner deletes; a deleted file is gone for MarkReady.
	if ok, _ := s.MarkDeleted(ctx, uuid.NewString(), g.ID, t0); ok {
		t.Fatal("a stranger deleted the file")
	}
	if ok, _ := s.MarkDeleted(ctx, owner, g.ID, t0); !ok {
		t.Fatal("owner could not delete")
	}
	if ok, _ := s.MarkDeleted(ctx, owner, g.ID, t0); ok {
		t.Fatal("deleted twice")
	}
	if _, err := s.MarkReady(ctx, g.ID, r, t0); !errors.Is(err, domainerr.ErrNotFound) {
		t.Fatalf("ready after delete: %v", err)
	}
	files, err := s.GetMany(ctx, []string{f.ID, g.ID, uuid.NewString()})
	if err != nil || len(files) != 2 {
		t.Fatalf("get many %v %v", files, err)
	}
	if _, err := s.Get(ctx, uuid.NewString()); !errors.Is(err, domainerr.ErrNotFound) {
		t.Fatalf("get unknown %v", err)
	}
}

func TestJanitorQueries(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	owner := uuid.NewString()
	expired, ready, rejected, deleted, fresh := pending(owner, 1), pending(owner, 1), pending(owner, 1), pending(owner, 1), pending(owner, 1)
	fresh.UploadExpiresAt = t0.Add(time.Hour)
	for _, f := range []media.File{expired, ready, rejected, deleted, fresh} {
		if err := s.Create(ctx, f, 0, 0, t0); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = s.MarkReady(ctx, ready.ID, media.Ready{Size: 1}, t0)
	_, _ = s.MarkRejected(ctx, rejected.ID, media.Rejection{Reason: media.ReasonUnreadable}, t0)
	_, _ = s.MarkDeleted(ctx, owner, deleted.ID, t0)

	cutoff := t0.Add(20 * time.Minute) // after every form but fresh's expired
	ids, err := s.ExpiredUploads(ctx, cutoff, 10)
	if err != nil || len(ids) != 1 || ids[0] != expired.ID {
		t.Fatalf("expired %v %v", ids, err)
	}
	if err := s.RemoveExpired(ctx, []string{expired.ID, ready.ID}, cutoff); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, expired.ID); !errors.Is(err, domainerr.ErrNotFound) {
		t.Fatal("expired upload survives")
	}
	if _, err := s.Get(ctx, ready.ID); err != nil {
		t.Fatal("RemoveExpired removed a ready file")
	}

	ids, err = s.DeletedFiles(ctx, 10)
	if err != nil || len(ids) != 1 || ids[0] != deleted.ID {
		t.Fatalf("deleted %v %v", ids, err)
	}
	if err := s.RemoveDeleted(ctx, []string{deleted.ID, ready.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, ready.ID); err != nil {
		t.Fatal("RemoveDeleted removed a ready file")
	}

	ids, err = s.UnsweptUploads(ctx, cutoff, 10)
	if err != nil || len(ids) != 2 {
		t.Fatalf("unswept %v %v", ids, err)
	}
	// Rejections are purged only once swept.
	if n, err := s.PurgeRejected(ctx, cutoff); n != 0 || err != nil {
		t.Fatalf("purged %d unswept, %v", n, err)
	}
	if err := s.MarkSwept(ctx, ids); err != nil {
		t.Fatal(err)
	}
	if ids, _ := s.UnsweptUploads(ctx, cutoff, 10); len(ids) != 0 {
		t.Fatalf("still unswept %v", ids)
	}
	if n, err := s.PurgeRejected(ctx, t0.Add(-time.Minute)); n != 0 || err != nil {
		t.Fatalf("purged a recent rejection: %d %v", n, err)
	}
	if n, err := s.PurgeRejected(ctx, cutoff); n != 1 || err != nil {
		t.Fatalf("purge %d %v", n, err)
	}
	var left int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM files`).Scan(&left)
	if left != 2 { // ready and fresh
		t.Fatalf("%d rows left", left)
	}
}

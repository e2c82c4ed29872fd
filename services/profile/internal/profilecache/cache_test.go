package profilecache_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/redis/rueidis"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/platform/waittest"
	"github.com/parleyhq/parley/services/profile/internal/profile"
	"github.com/parleyhq/parley/services/profile/internal/profilecache"
	"github.com/parleyhq/parley/services/profile/internal/profiledb"
)

func sample(version int64, about string) profile.Profile {
	return profile.Profile{UserID: uuid.NewString(), Nickname: "cached", About: about, Version: version,
		NicknameStatus: profile.NicknameRequestedTaken, RequestedNickname: "cache",
		Avatar:    &profile.Avatar{FileID: uuid.NewString(), URL: "u", Thumbnail64URL: "t64", Thumbnail256URL: "t256"},
		CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), UpdatedAt: time.Date(2025, 1, 2, 3, 4, 5, 7, time.UTC)}
}

func get(t *testing.T, c *profilecache.Cache, id string) (profile.Profile, bool) {
	t.Helper()
	m, err := c.GetMany(context.Background(), []string{id})
	if err != nil {
		t.Fatal(err)
	}
	p, ok := m[id]
	return p, ok
}

// eventuallyHit polls until the cache has id and returns what it holds (misses are allowed for a
// moment: a process may hold a cached miss or tombstone until Redis's invalidation message
// arrives).
func eventuallyHit(t *testing.T, c *profilecache.Cache, id string) profile.Profile {
	t.Helper()
	var p profile.Profile
	waittest.Until(t, "a cache hit for "+id, func() bool {
		var ok bool
		p, ok = get(t, c, id)
		return ok
	})
	return p
}

func TestVersionFencing(t *testing.T) {
	ctx := context.Background()
	c := profilecache.New(redistest.New(t), time.Minute)
	v1 := sample(1, "old")
	id := v1.UserID
	if _, ok := get(t, c, id); ok {
		t.Fatal("hit before anything was put")
	}
	if err := c.Put(ctx, v1); err != nil {
		t.Fatal(err)
	}
	// The process cached the miss above; it is dropped when Redis's invalidation arrives.
	got := eventuallyHit(t, c, id)
	if got.About != "old" || got.Version != 1 || *got.Avatar != *v1.Avatar || !got.UpdatedAt.Equal(v1.UpdatedAt) ||
		got.NicknameStatus != profile.NicknameRequestedTaken || got.RequestedNickname != "cache" {
		t.Fatalf("after put: %+v", got)
	}
	// Read again: now from the process's memory (client-side caching), still the same value.
	if got, ok := get(t, c, id); !ok || got.Version != 1 {
		t.Fatalf("second read: %+v, %v", got, ok)
	}

	if err := c.Invalidate(ctx, id, 2); err != nil {
		t.Fatal(err)
	}
	if got, ok := get(t, c, id); ok {
		t.Fatalf("after invalidating version 2, read %+v", got)
	}
	// A reader that loaded version 1 before the update and stores it after must be refused.
	if err := c.Put(ctx, v1); err != nil {
		t.Fatal(err)
	}
	if got, ok := get(t, c, id); ok {
		t.Fatalf("stale fill survived the invalidation: %+v", got)
	}
	v2 := v1
	v2.Version, v2.About = 2, "new"
	if err := c.Put(ctx, v2); err != nil {
		t.Fatal(err)
	}
	// The process may hold the tombstone for a moment (until Redis's invalidation arrives): a
	// miss, which is safe; then the new version is served.
	if got := eventuallyHit(t, c, id); got.About != "new" {
		t.Fatalf("after filling version 2: %+v", got)
	}
	if err := c.Put(ctx, v1); err != nil {
		t.Fatal(err)
	}
	if got, ok := get(t, c, id); !ok || got.About != "new" {
		t.Fatalf("version 1 replaced version 2: %+v, %v", got, ok)
	}
}

// Another replica's client-side copy goes when Redis tells it the key changed.
func TestOtherProcessDropsItsCopy(t *testing.T) {
	ctx := context.Background()
	a := profilecache.New(redistest.New(t), time.Minute)
	b := profilecache.New(redistest.New(t), time.Minute)
	p := sample(1, "x")
	if err := a.Put(ctx, p); err != nil {
		t.Fatal(err)
	}
	eventuallyHit(t, b, p.UserID)
	if err := a.Invalidate(ctx, p.UserID, 2); err != nil {
		t.Fatal(err)
	}
	waittest.Until(t, "b to drop its copy after the invalidation", func() bool {
		_, ok := get(t, b, p.UserID)
		return !ok
	})
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type service struct {
	svc   *profile.Service
	cache *profilecache.Cache
}

func newService(store *profiledb.Store, client rueidis.Client) service {
	c := profilecache.New(client, time.Minute)
	return service{svc: profile.NewService(store, c, nil, discard()), cache: c}
}

func TestUpdateNeverLeavesAStaleProfile(t *testing.T) {
	ctx := context.Background()
	pool := eventstest.NewDB(t, "profile", profiledb.Migrations)
	store := profiledb.New(pool, events.NewOutbox("profile"))
	id := uuid.NewString()
	if err := pg.InTx(ctx, pool, func(tx pgx.Tx) error {
		_, _, err := store.CreateFromRegistration(ctx, tx, profile.Registration{UserID: id, RequestedNickname: "stale"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	replicaA := newService(store, redistest.New(t))
	replicaB := newService(store, redistest.New(t))
	about := func(s service) string {
		t.Helper()
		p, err := s.svc.Get(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		return p.About
	}
	// Both replicas read, so both hold the profile in Redis and in memory.
	if about(replicaA) != "" || about(replicaB) != "" || about(replicaA) != "" {
		t.Fatal("unexpected about")
	}
	eventuallyHit(t, replicaA.cache, id) // the read fills the cache

	s := "first"
	if _, err := replicaA.svc.Update(ctx, id, profile.Changes{About: &s}); err != nil {
		t.Fatal(err)
	}
	// The replica that wrote sees its write at once.
	if got := about(replicaA); got != "first" {
		t.Fatalf("replica A after its update: %q", got)
	}
	// The other replica's in-memory copy goes as soon as Redis's invalidation reaches it.
	waittest.Until(t, "replica B to serve the updated profile", func() bool { return about(replicaB) == "first" })

	// A slow reader loads the profile, an update commits, then the reader fills the cache with
	// what it loaded: the fill must be refused.
	old, err := store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	s = "second"
	if _, err := replicaB.svc.Update(ctx, id, profile.Changes{About: &s}); err != nil {
		t.Fatal(err)
	}
	if err := replicaA.cache.Put(ctx, old); err != nil {
		t.Fatal(err)
	}
	if got := about(replicaA); got != "second" {
		t.Fatalf("after a stale fill: %q, want second", got)
	}
	if got := about(replicaB); got != "second" {
		t.Fatalf("replica B after its update: %q", got)
	}

	// When Redis cannot be reached, an update fails rather than leave a stale entry behind, and
	// reads fall back to the database.
	deadClient := redistest.New(t)
	dead := newService(store, deadClient)
	deadClient.Close()
	s = "lost"
	if _, err := dead.svc.Update(ctx, id, profile.Changes{About: &s}); !errors.Is(err, domainerr.ErrUnavailable) {
		t.Fatalf("update without redis: %v, want ErrUnavailable", err)
	}
	if got, err := store.Get(ctx, id); err != nil || got.About != "second" {
		t.Fatalf("database after the refused update: %q, %v", got.About, err)
	}
	if got := about(dead); got != "second" {
		t.Fatalf("read without redis: %q", got)
	}
}

package profiledb_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/services/profile/internal/profile"
	"github.com/parleyhq/parley/services/profile/internal/profiledb"
)

func newStore(t testing.TB) (*profiledb.Store, *pgxpool.Pool) {
	t.Helper()
	pool := eventstest.NewDB(t, "profile", profiledb.Migrations)
	return profiledb.New(pool, events.NewOutbox("profile")), pool
}

func create(t testing.TB, s *profiledb.Store, pool *pgxpool.Pool, userID, nick string) (profile.Profile, bool) {
	t.Helper()
	var p profile.Profile
	var created bool
	err := pg.InTx(context.Background(), pool, func(tx pgx.Tx) error {
		var err error
		p, created, err = s.CreateFromRegistration(context.Background(), tx, profile.Registration{UserID: userID, RequestedNickname: nick})
		return err
	})
	if err != nil {
		t.Fatalf("create %s (%s): %v", nick, userID, err)
	}
	return p, created
}

// profileEvents returns the ProfileUpdated events in the outbox for userID, oldest first.
func profileEvents(t testing.TB, pool *pgxpool.Pool, userID string) []*eventsv1.ProfileUpdated {
	t.Helper()
	rows, err := pool.Query(context.Background(),
		`SELECT topic, ce_type, payload FROM outbox WHERE key = $1 ORDER BY id`, userID)
	if err != nil {
		t.Fatal(err)
	}
	var out []*eventsv1.ProfileUpdated
	for rows.Next() {
		var topic, ceType string
		var payload []byte
		if err := rows.Scan(&topic, &ceType, &payload); err != nil {
			t.Fatal(err)
		}
		if topic != topics.Profile || ceType != "parley.events.v1.ProfileUpdated" {
			t.Fatalf("outbox row for %s: topic %q type %q", userID, topic, ceType)
		}
		var ev eventsv1.ProfileUpdated
		if err := proto.Unmarshal(payload, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, &ev)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func newID() string { return uuid.NewString() }

func nop(context.Context, profile.Profile) error { return nil }

func TestCreateFromRegistrationIsIdempotent(t *testing.T) {
	s, pool := newStore(t)
	id := newID()
	p, created := create(t, s, pool, id, "Alice")
	if !created || p.Nickname != "Alice" || p.NicknameStatus != profile.NicknameChosen || p.RequestedNickname != "" || p.Version != 1 {
		t.Fatalf("first create: created=%v %+v", created, p)
	}
	again, created := create(t, s, pool, id, "Alice")
	if created || again.Nickname != "Alice" || again.Version != 1 {
		t.Fatalf("second create: created=%v %+v, want the same profile untouched", created, again)
	}
	if n := pgtest.Count(t, pool, `SELECT count(*) FROM profiles`); n != 1 {
		t.Fatalf("%d profiles, want 1", n)
	}
	evs := profileEvents(t, pool, id)
	if len(evs) != 1 || !evs[0].GetCreated() || evs[0].GetNickname() != "Alice" || evs[0].GetVersion() != 1 || evs[0].GetUserId() != id {
		t.Fatalf("events %v, want one ProfileUpdated(created, Alice, version 1)", evs)
	}
}

func TestTakenNicknameIsDerivedAndFlagged(t *testing.T) {
	s, pool := newStore(t)
	create(t, s, pool, newID(), "alice")

	id := newID()
	p, created := create(t, s, pool, id, "ALICE") // taken, ignoring case
	if !created {
		t.Fatal("not created")
	}
	if !regexp.MustCompile(`^ALICE_\d{4}$`).MatchString(p.Nickname) || profile.ValidateNickname(p.Nickname) != nil {
		t.Errorf("nickname %q, want ALICE_dddd (valid)", p.Nickname)
	}
	if p.NicknameStatus != profile.NicknameRequestedTaken || p.RequestedNickname != "ALICE" {
		t.Errorf("status %v requested %q, want RequestedTaken and ALICE", p.NicknameStatus, p.RequestedNickname)
	}
	got, err := s.Get(context.Background(), id)
	if err != nil || got.Nickname != p.Nickname || got.NicknameStatus != profile.NicknameRequestedTaken || got.RequestedNickname != "ALICE" {
		t.Errorf("stored: %+v, %v", got, err)
	}
	if evs := profileEvents(t, pool, id); len(evs) != 1 || evs[0].GetNickname() != p.Nickname || !evs[0].GetCreated() {
		t.Errorf("events %v, want ProfileUpdated(created) with the derived nickname", evs)
	}

	// A 32-character nickname that is taken still yields a valid one.
	long := strings.Repeat("n", 32)
	create(t, s, pool, newID(), long)
	p, _ = create(t, s, pool, newID(), long)
	if profile.ValidateNickname(p.Nickname) != nil || p.NicknameStatus != profile.NicknameRequestedTaken {
		t.Errorf("long taken nickname: %q, %v", p.Nickname, p.NicknameStatus)
	}

	// A nickname this service does not accept is treated as not given.
	p, _ = create(t, s, pool, newID(), "Алиса")
	if !regexp.MustCompile(`^user_\d{4}$`).MatchString(p.Nickname) || p.NicknameStatus != profile.NicknameRequestedTaken || p.RequestedNickname != "Алиса" {
		t.Errorf("invalid requested nickname: %+v", p)
	}
}

func TestUpdateNicknameConflictIgnoresCase(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	alice, bob := newID(), newID()
	create(t, s, pool, alice, "alice")
	create(t, s, pool, bob, "bob")

	_, err := s.Update(ctx, bob, func(p *profile.Profile) { p.Nickname = "ALICE" }, nop)
	if !errors.Is(err, domainerr.ErrAlreadyExists) || err.Error() != "nickname: already taken" {
		t.Fatalf("bob -> ALICE: %v, want AlreadyExists \"nickname: already taken\"", err)
	}
	if got, _ := s.Get(ctx, bob); got.Nickname != "bob" || got.Version != 1 {
		t.Fatalf("bob after the refused update: %+v", got)
	}

	// Alice may change the case of her own nickname.
	p, err := s.Update(ctx, alice, func(p *profile.Profile) { p.Nickname = "Alice" }, nop)
	if err != nil || p.Nickname != "Alice" || p.Version != 2 {
		t.Fatalf("alice -> Alice: %+v, %v", p, err)
	}
	evs := profileEvents(t, pool, alice)
	if len(evs) != 2 || evs[1].GetCreated() || evs[1].GetNickname() != "Alice" || evs[1].GetVersion() != 2 {
		t.Fatalf("alice's events %v, want created then Alice v2", evs)
	}
	if n := len(profileEvents(t, pool, bob)); n != 1 {
		t.Fatalf("bob has %d events, want only the created one (the refused update rolled back)", n)
	}
}

func TestUpdateBumpsVersionOnlyOnChangeAndRollsBackOnHookError(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	id := newID()
	create(t, s, pool, id, "carol")

	p, err := s.Update(ctx, id, func(p *profile.Profile) { p.About = "hi" }, nop)
	if err != nil || p.Version != 2 || p.About != "hi" {
		t.Fatalf("about: %+v, %v", p, err)
	}
	p, err = s.Update(ctx, id, func(p *profile.Profile) { p.About = "hi" }, nop)
	if err != nil || p.Version != 2 {
		t.Fatalf("same about again: %+v, %v; want no new version", p, err)
	}
	boom := errors.New("cache down")
	if _, err := s.Update(ctx, id, func(p *profile.Profile) { p.About = "lost" }, func(context.Context, profile.Profile) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("hook error: %v", err)
	}
	if got, _ := s.Get(ctx, id); got.About != "hi" || got.Version != 2 {
		t.Fatalf("after failed hook: %+v, want the update rolled back", got)
	}
	if n := len(profileEvents(t, pool, id)); n != 2 {
		t.Fatalf("%d events, want 2 (created, about)", n)
	}
	avatar := &profile.Avatar{FileID: newID(), URL: "https://cdn/a.webp", Thumbnail64URL: "https://cdn/a64.webp", Thumbnail256URL: "https://cdn/a256.webp"}
	p, err = s.Update(ctx, id, func(p *profile.Profile) { p.Avatar = avatar }, nop)
	if err != nil || p.Avatar == nil || *p.Avatar != *avatar || p.Version != 3 {
		t.Fatalf("avatar: %+v, %v", p, err)
	}
	evs := profileEvents(t, pool, id)
	if last := evs[len(evs)-1]; last.GetAvatarFileId() != avatar.FileID || last.GetAvatarThumbnailUrl() != avatar.Thumbnail64URL ||
		last.GetVersion() != 3 || last.GetAbout() != "hi" {
		t.Fatalf("avatar event %v, want the file id and the media service's 64px thumbnail URL", last)
	}
	// A later change carries the avatar's URL again (the event is the whole public state); removing
	// the avatar empties both.
	if _, err := s.Update(ctx, id, func(p *profile.Profile) { p.About = "still me" }, nop); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, id, func(p *profile.Profile) { p.Avatar = nil }, nop); err != nil {
		t.Fatal(err)
	}
	evs = profileEvents(t, pool, id)
	if about := evs[len(evs)-2]; about.GetAvatarThumbnailUrl() != avatar.Thumbnail64URL || about.GetVersion() != 4 {
		t.Fatalf("event after an about change %v, want the avatar's thumbnail URL kept", about)
	}
	if cleared := evs[len(evs)-1]; cleared.GetAvatarFileId() != "" || cleared.GetAvatarThumbnailUrl() != "" || cleared.GetVersion() != 5 {
		t.Fatalf("event after removing the avatar %v, want no file id and no thumbnail URL", cleared)
	}
	if _, err := s.Update(ctx, newID(), func(p *profile.Profile) { p.About = "x" }, nop); !errors.Is(err, domainerr.ErrNotFound) {
		t.Fatalf("unknown user: %v, want NotFound", err)
	}
}

func TestNicknameOwnerAndGetMany(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	a, b := newID(), newID()
	create(t, s, pool, a, "Dave")
	create(t, s, pool, b, "erin")
	if owner, err := s.NicknameOwner(ctx, "dAVE"); err != nil || owner != a {
		t.Errorf("owner of dAVE: %q, %v", owner, err)
	}
	if owner, err := s.NicknameOwner(ctx, "frank"); err != nil || owner != "" {
		t.Errorf("owner of frank: %q, %v", owner, err)
	}
	ps, err := s.GetMany(ctx, []string{a, b, newID()})
	if err != nil || len(ps) != 2 {
		t.Fatalf("GetMany: %v, %v", ps, err)
	}
	if _, err := s.Get(ctx, newID()); !errors.Is(err, domainerr.ErrNotFound) {
		t.Errorf("Get unknown: %v", err)
	}
}

func newService(s *profiledb.Store) *profile.Service {
	return profile.NewService(s, noCache{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// noCache is a cache that holds nothing, for tests of the store through the service.
type noCache struct{}

func (noCache) GetMany(context.Context, []string) (map[string]profile.Profile, error) {
	return nil, nil
}
func (noCache) Put(context.Context, ...profile.Profile) error   { return nil }
func (noCache) Invalidate(context.Context, string, int64) error { return nil }

func names(hits []profile.SearchHit) string {
	var b strings.Builder
	for i, h := range hits {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s(%d)", h.Profile.Nickname, h.Match)
	}
	return b.String()
}

package friend_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/validate"
	"github.com/parleyhq/parley/services/friend/internal/friend"
)

const (
	idA = "0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01"
	idB = "f0000000-0000-4000-8000-000000000001"
)

func TestPair(t *testing.T) {
	p, q := friend.NewPair(idB, idA), friend.NewPair(idA, idB)
	if p != q || p.Lo != idA || p.Hi != idB {
		t.Fatalf("NewPair is not canonical: %+v %+v", p, q)
	}
	if p.ID() != idA+":"+idB || p.Other(idA) != idB || p.Other(idB) != idA {
		t.Fatalf("pair %+v: id %q", p, p.ID())
	}
	st := friend.PairState{HiBlocksLo: true}
	if !st.Blocks(p, idB) || st.Blocks(p, idA) {
		t.Fatalf("Blocks: hi blocks lo, read as %v/%v", st.Blocks(p, idB), st.Blocks(p, idA))
	}
}

// TestPageSize checks friend's page limits (friend.proto: 1 to 100, 0 means 50); the rule itself
// is platform/validate's.
func TestPageSize(t *testing.T) {
	for in, want := range map[int32]int{0: 50, 1: 1, 100: 100} {
		if got, err := validate.PageSize(in, friend.DefaultPageSize, friend.MaxPageSize); err != nil || got != want {
			t.Errorf("PageSize(%d) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []int32{-1, 101} {
		if _, err := validate.PageSize(bad, friend.DefaultPageSize, friend.MaxPageSize); !errors.Is(err, domainerr.ErrInvalidArgument) {
			t.Errorf("PageSize(%d) = %v; want InvalidArgument", bad, err)
		}
	}
}

func TestPageTokens(t *testing.T) {
	fc := friend.FriendsCursor{NicknameKey: "bob", UserID: idA}
	if got, err := friend.DecodeFriendsToken(friend.EncodeFriendsToken(fc)); err != nil || *got != fc {
		t.Fatalf("friends token round trip = %+v, %v", got, err)
	}
	tc := friend.TimeCursor{Time: time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC), ID: idB}
	if got, err := friend.DecodeBlockedToken(friend.EncodeBlockedToken(tc)); err != nil || !got.Time.Equal(tc.Time) || got.ID != idB {
		t.Fatalf("blocked token round trip = %+v, %v", got, err)
	}
	in := friend.EncodeRequestsToken(friend.Incoming, tc)
	if got, err := friend.DecodeRequestsToken(friend.Incoming, in); err != nil || !got.Time.Equal(tc.Time) {
		t.Fatalf("requests token round trip = %+v, %v", got, err)
	}
	if got, err := friend.DecodeFriendsToken(""); got != nil || err != nil {
		t.Fatalf("empty token = %+v, %v; want the first page", got, err)
	}

	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for name, c := range map[string]struct {
		token, msg string
		decode     func(string) error
	}{
		"other direction": {in, "page_token: belongs to another list", func(s string) error { _, err := friend.DecodeRequestsToken(friend.Outgoing, s); return err }},
		"other list":      {in, "page_token: belongs to another list", func(s string) error { _, err := friend.DecodeBlockedToken(s); return err }},
		"not base64":      {"!!", "page_token: malformed", func(s string) error { _, err := friend.DecodeFriendsToken(s); return err }},
		"not json":        {enc("nope"), "page_token: malformed", func(s string) error { _, err := friend.DecodeFriendsToken(s); return err }},
		"old version":     {enc(`{"v":0,"k":"friends","u":"` + idA + `"}`), "incompatible version", func(s string) error { _, err := friend.DecodeFriendsToken(s); return err }},
		"id not a uuid":   {enc(`{"v":1,"k":"friends","u":"x"}`), "page_token: malformed", func(s string) error { _, err := friend.DecodeFriendsToken(s); return err }},
		"too long":        {strings.Repeat("A", 600), "page_token: malformed", func(s string) error { _, err := friend.DecodeFriendsToken(s); return err }},
	} {
		err := c.decode(c.token)
		if !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v; want InvalidArgument %q", name, err, c.msg)
		}
	}
}

package profile_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/services/profile/internal/profile"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []profile.Cursor{
		{Match: profile.MatchFuzzy, Similarity: 0.2857143, SortKey: "alice_1", UserID: "0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01"},
		{Match: profile.MatchPrefix, Length: 7, SortKey: "alice_1", UserID: "0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01"},
	} {
		tok := profile.EncodeCursor("alice", c)
		got, err := profile.DecodeCursor("alice", tok)
		if err != nil {
			t.Fatal(err)
		}
		if *got != c {
			t.Errorf("round trip: got %+v, want %+v (similarity must survive bit for bit)", *got, c)
		}
	}
	if first, err := profile.DecodeCursor("alice", ""); first != nil || err != nil {
		t.Errorf("empty token: %v, %v; want the first page", first, err)
	}
}

func TestDecodeCursorRejects(t *testing.T) {
	good := profile.Cursor{Match: profile.MatchPrefix, Similarity: 0.5, SortKey: "bob_1", UserID: "0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01"}
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	cases := map[string]string{
		"not base64":      "!!!",
		"not json":        enc("hello"),
		"other version":   enc(`{"v":2,"q":"bob","m":2,"s":0.5,"k":"bob_1","u":"0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01"}`),
		"bad match kind":  enc(`{"v":1,"q":"bob","m":7,"s":0.5,"k":"bob_1","u":"0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01"}`),
		"bad length":      enc(`{"v":1,"q":"bob","m":2,"l":99,"k":"bob_1","u":"0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01"}`),
		"bad similarity":  enc(`{"v":1,"q":"bob","m":2,"s":3,"k":"bob_1","u":"0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01"}`),
		"no sort key":     enc(`{"v":1,"q":"bob","m":2,"s":0.5,"k":"","u":"0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01"}`),
		"bad user id":     enc(`{"v":1,"q":"bob","m":2,"s":0.5,"k":"bob_1","u":"1; DROP TABLE profiles"}`),
		"other query":     profile.EncodeCursor("alice", good),
		"far too long":    strings.Repeat("A", 600),
		"truncated token": profile.EncodeCursor("bob", good)[:20],
	}
	for name, tok := range cases {
		_, err := profile.DecodeCursor("bob", tok)
		if !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), "page_token: ") {
			t.Errorf("%s: %v, want InvalidArgument naming page_token", name, err)
		}
	}
}

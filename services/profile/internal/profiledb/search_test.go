package profiledb_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/services/profile/internal/profile"
)

func TestSearchRanksExactThenPrefixThenFuzzy(t *testing.T) {
	s, pool := newStore(t)
	for _, n := range []string{"alice", "Alice_W", "alice.smith", "alicia", "malice", "bob", "alex", "zzz"} {
		create(t, s, pool, newID(), n)
	}
	svc := newService(s)
	page, err := svc.Search(context.Background(), "  @ALICE ", 50, "")
	if err != nil {
		t.Fatal(err)
	}
	got := names(page.Hits)
	// Exact first; prefix matches shortest first; then fuzzy ones by similarity (alicia and malice
	// tie at 0.44, so by nickname), down to the threshold (alex, 0.22).
	want := "alice(1) Alice_W(2) alice.smith(2) alicia(3) malice(3) alex(3)"
	if got != want {
		t.Fatalf("search alice:\n got %s\nwant %s", got, want)
	}
	for _, h := range page.Hits {
		if h.Profile.NicknameStatus != 0 || h.Profile.RequestedNickname != "" {
			t.Errorf("search result %s carries private fields", h.Profile.Nickname)
		}
	}
	if page.NextPageToken != "" {
		t.Errorf("one page only, got a next page token")
	}

	// Typos find the person through the fuzzy tier. A transposed pair costs three trigrams, so
	// "alcie" is as close to "alex" (0.22) as to "alice" (0.20): both are found, ranked by similarity.
	page, err = svc.Search(context.Background(), "alcie", 50, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(page.Hits), "alex(3) alice(3)"; got != want {
		t.Fatalf("search alcie: %s, want %s", got, want)
	}
	page, err = svc.Search(context.Background(), "alise", 50, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Hits) == 0 || page.Hits[0].Profile.Nickname != "alice" || page.Hits[0].Match != profile.MatchFuzzy {
		t.Fatalf("search alise: %s, want alice first, fuzzy", names(page.Hits))
	}

	// '_' and '.' in a query are literal characters, not LIKE wildcards.
	page, err = svc.Search(context.Background(), "alice_", 50, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Hits) == 0 || page.Hits[0].Profile.Nickname != "Alice_W" || page.Hits[0].Match != profile.MatchPrefix {
		t.Fatalf("search alice_: %s, want Alice_W first as prefix", names(page.Hits))
	}
	for _, h := range page.Hits {
		if h.Profile.Nickname == "alice.smith" && h.Match == profile.MatchPrefix {
			t.Errorf("alice.smith matched prefix alice_ (wildcard leak)")
		}
	}

	// Nothing similar: an empty page, not an error.
	page, err = svc.Search(context.Background(), "qqqqqq", 50, "")
	if err != nil || len(page.Hits) != 0 || page.NextPageToken != "" {
		t.Fatalf("search qqqqqq: %s, %q, %v", names(page.Hits), page.NextPageToken, err)
	}
}

func TestSearchPaginationHasNoGapsOrDuplicates(t *testing.T) {
	s, pool := newStore(t)
	create(t, s, pool, newID(), "bob")
	for _, n := range []string{"bob_1", "bob_2", "bob.jr", "bobby", "bobcat", "bob-the-builder", "bobo", "bob007", "bob7",
		"bbob", "boob", "bo_bo", "rob", "bobb", "obob", "xbob", "bab", "b0b", "bobr"} {
		create(t, s, pool, newID(), n)
	}
	// Several profiles with the same similarity, so ties are broken by nickname and then user id.
	for _, n := range []string{"bob_a1", "bob_a2", "bob_a3", "bob_a4"} {
		create(t, s, pool, newID(), n)
	}
	svc := newService(s)
	ctx := context.Background()
	all, err := svc.Search(ctx, "bob", 50, "")
	if err != nil {
		t.Fatal(err)
	}
	if all.NextPageToken != "" {
		t.Fatal("everything should fit in one page of 50")
	}
	kinds := map[profile.MatchKind]int{}
	for i, h := range all.Hits {
		kinds[h.Match]++
		if i > 0 && !rankedBefore(all.Hits[i-1], h) {
			t.Errorf("ranking broken between %s and %s", all.Hits[i-1].Profile.Nickname, h.Profile.Nickname)
		}
	}
	if kinds[profile.MatchExact] != 1 || kinds[profile.MatchPrefix] < 10 || kinds[profile.MatchFuzzy] < 3 {
		t.Fatalf("tiers %v in %s: the test needs every tier populated", kinds, names(all.Hits))
	}
	want := names(all.Hits)
	for _, size := range []int32{1, 2, 3, 7} {
		var hits []profile.SearchHit
		token := ""
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatalf("page size %d: no end", size)
			}
			page, err := svc.Search(ctx, "@bob", size, token)
			if err != nil {
				t.Fatalf("page size %d, page %d: %v", size, pages, err)
			}
			if len(page.Hits) > int(size) {
				t.Fatalf("page size %d: got %d hits", size, len(page.Hits))
			}
			hits = append(hits, page.Hits...)
			if page.NextPageToken == "" {
				break
			}
			token = page.NextPageToken
		}
		if got := names(hits); got != want {
			t.Errorf("page size %d walked\n %s\nwant\n %s", size, got, want)
		}
	}
}

func TestSearchRejectsBadInput(t *testing.T) {
	s, pool := newStore(t)
	create(t, s, pool, newID(), "bob")
	create(t, s, pool, newID(), "bobby")
	svc := newService(s)
	ctx := context.Background()
	first, err := svc.Search(ctx, "bob", 1, "")
	if err != nil || first.NextPageToken == "" {
		t.Fatalf("first page: %v, token %q", err, first.NextPageToken)
	}
	cases := map[string]struct {
		query string
		size  int32
		token string
		field string
	}{
		"garbage token":       {"bob", 1, "garbage!", "page_token: "},
		"token of another q":  {"bobby", 1, first.NextPageToken, "page_token: "},
		"tampered token":      {"bob", 1, strings.ToUpper(first.NextPageToken), "page_token: "},
		"empty query":         {" @ ", 1, "", "query: "},
		"query too long":      {strings.Repeat("b", 33), 1, "", "query: "},
		"page size too large": {"bob", 51, "", "page_size: "},
		"negative page size":  {"bob", -1, "", "page_size: "},
	}
	for name, c := range cases {
		_, err := svc.Search(ctx, c.query, c.size, c.token)
		if !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), c.field) {
			t.Errorf("%s: %v, want InvalidArgument starting %q", name, err, c.field)
		}
	}
	second, err := svc.Search(ctx, "bob", 1, first.NextPageToken)
	if err != nil || len(second.Hits) != 1 || second.Hits[0].Profile.Nickname != "bobby" {
		t.Fatalf("second page: %s, %v", names(second.Hits), err)
	}
}

// rankedBefore reports whether a comes strictly before b in search order.
func rankedBefore(a, b profile.SearchHit) bool {
	if a.Match != b.Match {
		return a.Match < b.Match
	}
	if a.Match == profile.MatchPrefix && a.Length != b.Length {
		return a.Length < b.Length
	}
	if a.Match == profile.MatchFuzzy && a.Similarity != b.Similarity {
		return a.Similarity > b.Similarity
	}
	if a.SortKey != b.SortKey {
		return a.SortKey < b.SortKey
	}
	return a.Profile.UserID < b.Profile.UserID
}

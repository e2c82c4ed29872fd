package profile_test

import (
	"errors"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/validate"
	"github.com/parleyhq/parley/services/profile/internal/profile"
)

func TestValidateNickname(t *testing.T) {
	valid := []string{"abc", "alice", "Alice_99", "a.b-c_d", "007bond", strings.Repeat("x", 32), "bob-"}
	for _, n := range valid {
		if err := profile.ValidateNickname(n); err != nil {
			t.Errorf("ValidateNickname(%q) = %v, want nil", n, err)
		}
	}
	invalid := map[string]string{
		"":                      "3 to 32 characters",
		"ab":                    "3 to 32 characters",
		strings.Repeat("x", 33): "3 to 32 characters",
		"_alice":                "start with a letter or a digit",
		".alice":                "start with a letter or a digit",
		"-alice":                "start with a letter or a digit",
		"ali ce":                "not ' '",
		"alice!":                "not '!'",
		"Алиса":                 "not 'А'",
		"al@ce":                 "not '@'",
	}
	for n, want := range invalid {
		err := profile.ValidateNickname(n)
		if !errors.Is(err, domainerr.ErrInvalidArgument) {
			t.Errorf("ValidateNickname(%q) = %v, want domainerr.ErrInvalidArgument", n, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "nickname: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateNickname(%q) = %q, want a message naming the field and containing %q", n, err, want)
		}
	}
}

func TestValidateAbout(t *testing.T) {
	if err := profile.ValidateAbout(strings.Repeat("ж", 500)); err != nil {
		t.Errorf("500 characters: %v", err)
	}
	if err := profile.ValidateAbout(""); err != nil {
		t.Errorf("empty: %v", err)
	}
	err := profile.ValidateAbout(strings.Repeat("ж", 501))
	if !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), "about: ") {
		t.Errorf("501 characters: %v, want InvalidArgument naming about", err)
	}
	if err := profile.ValidateAbout("a\x00b"); !errors.Is(err, domainerr.ErrInvalidArgument) {
		t.Errorf("NUL: %v, want InvalidArgument", err)
	}
}

func TestNormalizeQuery(t *testing.T) {
	ok := map[string]string{
		"alice":                 "alice",
		"  @Alice ":             "alice",
		"@ bob":                 "bob",
		"A":                     "a",
		"@@x":                   "@x",
		strings.Repeat("Q", 32): strings.Repeat("q", 32),
	}
	for in, want := range ok {
		got, err := profile.NormalizeQuery(in)
		if err != nil || got != want {
			t.Errorf("NormalizeQuery(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "   ", "@", " @ ", strings.Repeat("q", 33), "a\tb", "a\x00"} {
		_, err := profile.NormalizeQuery(in)
		if !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), "query: ") {
			t.Errorf("NormalizeQuery(%q) = %v, want InvalidArgument naming query", in, err)
		}
	}
}

// TestPageSize checks profile's page limits (profile.proto: 1 to 50, 0 means 20); the rule itself
// is platform/validate's.
func TestPageSize(t *testing.T) {
	for in, want := range map[int32]int{0: 20, 1: 1, 50: 50, 17: 17} {
		if got, err := validate.PageSize(in, profile.DefaultPageSize, profile.MaxPageSize); err != nil || got != want {
			t.Errorf("PageSize(%d) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []int32{-1, 51, 1000} {
		if _, err := validate.PageSize(in, profile.DefaultPageSize, profile.MaxPageSize); !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), "page_size: ") {
			t.Errorf("PageSize(%d) = %v, want InvalidArgument naming page_size", in, err)
		}
	}
}

func TestDerivedNickname(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2)).IntN
	cases := map[string]*regexp.Regexp{
		"alice":                 regexp.MustCompile(`^alice_\d{4}$`),
		"Alice.B":               regexp.MustCompile(`^Alice\.B_\d{4}$`),
		strings.Repeat("z", 32): regexp.MustCompile(`^z{27}_\d{4}$`),
		"Алиса":                 regexp.MustCompile(`^user_\d{4}$`),
		"__a":                   regexp.MustCompile(`^user_\d{4}$`),
		"_.bob!":                regexp.MustCompile(`^bob_\d{4}$`),
		"":                      regexp.MustCompile(`^user_\d{4}$`),
	}
	for in, want := range cases {
		got := profile.DerivedNickname(in, 4, rnd)
		if !want.MatchString(got) {
			t.Errorf("DerivedNickname(%q) = %q, want %s", in, got, want)
		}
		if err := profile.ValidateNickname(got); err != nil {
			t.Errorf("DerivedNickname(%q) = %q is not a valid nickname: %v", in, got, err)
		}
	}
	if got := profile.DerivedNickname(strings.Repeat("z", 40), 8, rnd); len(got) != 32 {
		t.Errorf("long base with 8 digits: %q has %d characters, want 32", got, len(got))
	}
}

package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/validate"
)

func TestNormalizeEmail(t *testing.T) {
	ok := map[string]string{
		"  Alice@Example.COM ":           "alice@example.com",
		"bob.smith+tag@mail.example.org": "bob.smith+tag@mail.example.org",
		"x@localhost":                    "x@localhost",
	}
	for in, want := range ok {
		got, err := NormalizeEmail(in)
		if err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                                 "email: required",
		"   ":                              "email: required",
		"not-an-email":                     "email: must be a plain address like name@example.com",
		"Alice <alice@example.com>":        "email: must be a plain address like name@example.com",
		"alice@example.com (work)":         "email: must be a plain address like name@example.com",
		"a@b@c":                            "email: must be a plain address like name@example.com",
		strings.Repeat("a", 250) + "@x.io": "email: must be at most 254 characters",
	}
	for in, want := range bad {
		_, err := NormalizeEmail(in)
		if err == nil || err.Error() != want || !errors.Is(err, domainerr.ErrInvalidArgument) {
			t.Errorf("NormalizeEmail(%q) error = %v; want InvalidArgument %q", in, err, want)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	for _, ok := range []string{"12345678", strings.Repeat("ж", 8), strings.Repeat("x", 128), "pass word with spaces"} {
		if err := ValidatePassword(ok); err != nil {
			t.Errorf("ValidatePassword(%q) = %v", ok, err)
		}
	}
	bad := map[string]string{
		"":                       "password: required",
		"1234567":                "password: must be at least 8 characters",
		strings.Repeat("ж", 7):   "password: must be at least 8 characters", // 14 bytes, 7 runes
		strings.Repeat("x", 129): "password: must be at most 128 characters",
		"abcdefgh\xff":           "password: must be valid UTF-8 text",
	}
	for in, want := range bad {
		err := ValidatePassword(in)
		if err == nil || err.Error() != want || !errors.Is(err, domainerr.ErrInvalidArgument) {
			t.Errorf("ValidatePassword(%q) error = %v; want InvalidArgument %q", in, err, want)
		}
	}
}

func TestValidateNickname(t *testing.T) {
	for _, ok := range []string{"bob", "alice_01", "a.b-c", "9lives", "A.B_C-9", strings.Repeat("n", 32)} {
		if err := ValidateNickname(ok); err != nil {
			t.Errorf("ValidateNickname(%q) = %v", ok, err)
		}
	}
	bad := map[string]string{
		"":                      "nickname: required",
		"ab":                    "nickname: must be 3 to 32 characters",
		strings.Repeat("n", 33): "nickname: must be 3 to 32 characters",
		"_bob":                  "nickname: must start with a letter or digit",
		".bob":                  "nickname: must start with a letter or digit",
		"bob smith":             "nickname: may contain only the letters a-z and A-Z, digits, '_', '.' and '-'",
		"bob@home":              "nickname: may contain only the letters a-z and A-Z, digits, '_', '.' and '-'",
		"bob\xff":               "nickname: may contain only the letters a-z and A-Z, digits, '_', '.' and '-'",
	}
	for in, want := range bad {
		err := ValidateNickname(in)
		if err == nil || err.Error() != want || !errors.Is(err, domainerr.ErrInvalidArgument) {
			t.Errorf("ValidateNickname(%q) error = %v; want InvalidArgument %q", in, err, want)
		}
	}
}

func TestJoinListsEveryField(t *testing.T) {
	_, emailErr := NormalizeEmail("nope")
	err := validate.Join(emailErr, ValidatePassword("short"), ValidateNickname("ok_nick"))
	want := "email: must be a plain address like name@example.com; password: must be at least 8 characters"
	if err == nil || err.Error() != want || !errors.Is(err, domainerr.ErrInvalidArgument) {
		t.Fatalf("validate.Join = %v; want %q", err, want)
	}
	if validate.Join(nil, nil) != nil {
		t.Fatal("validate.Join of no errors must be nil")
	}
}

func TestDeriveNickname(t *testing.T) {
	cases := []struct {
		id   Identity
		want string
	}{
		{Identity{PreferredUsername: "olga k", Name: "Olga"}, "olga_k"},
		{Identity{Name: "Жанна", Email: "jeanne.d@example.com"}, "jeanne.d"},
		{Identity{PreferredUsername: "__x"}, "x__"},
		{Identity{PreferredUsername: strings.Repeat("a", 40)}, strings.Repeat("a", 32)},
		{Identity{}, "user"},
	}
	for _, c := range cases {
		got := DeriveNickname(c.id)
		if got != c.want {
			t.Errorf("DeriveNickname(%+v) = %q; want %q", c.id, got, c.want)
		}
		if err := ValidateNickname(got); err != nil {
			t.Errorf("derived nickname %q is invalid: %v", got, err)
		}
	}
}

func TestValidateNewPassword(t *testing.T) {
	const (
		common   = "password: is one of the most common passwords in public breach lists, so it is guessed first; choose another"
		local    = "password: must not contain your email address's name (the part before the @)"
		nickname = "password: must not contain your nickname"
	)
	cases := []struct {
		password, email, nickname, want string
	}{
		{"correct horse battery", "olga@example.com", "olga_k", ""},
		{"1234567", "olga@example.com", "olga_k", "password: must be at least 8 characters"},
		{"password1", "olga@example.com", "olga_k", common},
		{"Password1", "olga@example.com", "olga_k", common}, // case does not help
		{"iloveyou", "x@example.com", "xyz", common},
		{"olgabrandt", "olgabrandt@example.com", "someone", local},       // equal to the local part
		{"my-OLGABRANDT-pw", "olgabrandt@example.com", "someone", local}, // contains it, any case
		{"tara1984!!", "tara+parley@example.com", "someone", local},      // the part before '+' too
		{"xxKatya_Kxx", "k@example.com", "katya_k", nickname},
		{"KATYA_K-secret", "k@example.com", "Katya_K", nickname},
		// Parts shorter than MinPersonalPartRunes are not compared: "bob" is inside too many words.
		{"bobsleigh team", "bob@example.com", "bob", ""},
		{"alsoagoodone", "al@example.com", "als", ""},
		// An invalid email (normalised to "") is not compared.
		{"wildgooseflight", "", "nobody", ""},
	}
	for _, c := range cases {
		err := ValidateNewPassword(c.password, c.email, c.nickname)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("ValidateNewPassword(%q, %q, %q) = %v; want nil", c.password, c.email, c.nickname, err)
		case c.want != "" && (err == nil || err.Error() != c.want || !errors.Is(err, domainerr.ErrInvalidArgument)):
			t.Errorf("ValidateNewPassword(%q, %q, %q) = %v; want InvalidArgument %q", c.password, c.email, c.nickname, err, c.want)
		}
	}
}

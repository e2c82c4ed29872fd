package validate_test

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/validate"
)

const id = "0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01"

// wantInvalid fails t unless err is an InvalidArgument domain error whose message is want.
func wantInvalid(t *testing.T, err error, want string) {
	t.Helper()
	var de *domainerr.Error
	if !errors.As(err, &de) || !errors.Is(err, domainerr.ErrInvalidArgument) || err.Error() != want {
		t.Errorf("error %v; want InvalidArgument %q", err, want)
	}
}

func TestUUID(t *testing.T) {
	for _, in := range []string{id, strings.ToUpper(id), "0B5E1C1E-8a1f-4C47-9d3e-2F6A1B7C9D01"} {
		if got, err := validate.UUID("user_id", in); err != nil || got != id {
			t.Errorf("UUID(%q) = %q, %v; want %q", in, got, err, id)
		}
		if !validate.IsUUID(in) {
			t.Errorf("IsUUID(%q) = false", in)
		}
	}
	for _, bad := range []string{"x", id[:35], id + "0", strings.ReplaceAll(id, "-", "_"), "0b5e1c1e8a1f4c479d3e2f6a1b7c9d01",
		"0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9dzz", "{0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d}", " " + id[1:]} {
		_, err := validate.UUID("user_ids[2]", bad)
		wantInvalid(t, err, `user_ids[2]: must be a UUID such as `+id+`, got "`+bad+`"`)
		if validate.IsUUID(bad) {
			t.Errorf("IsUUID(%q) = true", bad)
		}
	}
	_, err := validate.UUID("chat_id", "")
	wantInvalid(t, err, "chat_id: required, a UUID such as "+id)
}

func TestUUIDQuotesAtMost40Bytes(t *testing.T) {
	_, err := validate.UUID("id", strings.Repeat("a", 39)+"é and more")
	wantInvalid(t, err, `id: must be a UUID such as `+id+`, got "`+strings.Repeat("a", 39)+`…"`)
	_, err = validate.UUID("id", strings.Repeat("b", 40))
	wantInvalid(t, err, `id: must be a UUID such as `+id+`, got "`+strings.Repeat("b", 40)+`"`)
}

func TestUUIDs(t *testing.T) {
	other := "f0000000-0000-4000-8000-000000000001"
	got, err := validate.UUIDs("file_ids", []string{strings.ToUpper(other), id, other, id}, 4)
	if err != nil || !slices.Equal(got, []string{other, id}) {
		t.Errorf("UUIDs = %v, %v; want [%s %s] (lower-cased, repeats folded, order kept)", got, err, other, id)
	}
	if got, err := validate.UUIDs("file_ids", nil, 4); err != nil || len(got) != 0 {
		t.Errorf("UUIDs(nil) = %v, %v", got, err)
	}
	_, err = validate.UUIDs("file_ids", []string{id, id, id, id, id}, 4)
	wantInvalid(t, err, "file_ids: at most 4 ids per call, got 5")
	_, err = validate.UUIDs("file_ids", []string{id, "nope"}, 4)
	wantInvalid(t, err, `file_ids[1]: must be a UUID such as `+id+`, got "nope"`)
	_, err = validate.UUIDs("file_ids", []string{id, ""}, 4)
	wantInvalid(t, err, "file_ids[1]: required, a UUID such as "+id)
}

func TestPageSize(t *testing.T) {
	for in, want := range map[int32]int{0: 30, 1: 1, 17: 17, 100: 100} {
		if got, err := validate.PageSize(in, 30, 100); err != nil || got != want {
			t.Errorf("PageSize(%d, 30, 100) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []int32{-1, 101, 1 << 30, -1 << 31} {
		got, err := validate.PageSize(bad, 30, 100)
		if got != 0 {
			t.Errorf("PageSize(%d) = %d; want 0 with the error", bad, got)
		}
		wantInvalid(t, err, "page_size: must be 1 to 100 (0 for 30), got "+strconv.Itoa(int(bad)))
	}
}

func TestIsHTTPURL(t *testing.T) {
	for u, want := range map[string]bool{
		"https://parley.example/media/files/" + id + "/64": true,
		"http://127.0.0.1:8080/media/files/" + id + "/64":  true,
		"":                                false,
		"/media/files/" + id + "/64":      false, // relative
		"javascript:alert(1)":             false,
		"data:image/png;base64,AAAA":      false,
		"ftp://parley.example/a":          false,
		"https://user:pw@parley.example/": false,
		"https:///no-host":                false,
		"https://parley.example/" + strings.Repeat("a", 100): false,
		"https://parley.example/" + strings.Repeat("a", 77):  true, // 100 bytes exactly
	} {
		if got := validate.IsHTTPURL(u, 100); got != want {
			t.Errorf("IsHTTPURL(%.60q, 100) = %v; want %v", u, got, want)
		}
	}
}

func TestFileLinkKeepsWhatClientsMayBeShown(t *testing.T) {
	thumb := "https://parley.example/media/files/" + id + "/64"
	cases := []struct {
		name, fileID, link string
		wantID, wantURL    string
		dropped            string // words the warning must hold; empty: nothing left out
	}{
		{"a file with its link", id, thumb, id, thumb, ""},
		{"an upper-case id is lower-cased", strings.ToUpper(id), thumb, id, thumb, ""},
		{"a file without a link", id, "", id, "", ""},
		{"no file", "", "", "", "", ""},
		{"no file: no link, whatever the event says", "", thumb, "", "", ""},
		{"an id that is not a UUID", "bob", thumb, "", "", `ignored the file (and its link): file id: must be a UUID`},
		{"a link IsHTTPURL refuses", id, "javascript:alert(1)", id, "", "ignored the link"},
		{"a link over MaxLinkLength", id, "https://parley.example/" + strings.Repeat("a", validate.MaxLinkLength), id, "", "ignored the link"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gotID, gotURL, dropped := validate.FileLink(c.fileID, c.link)
			if gotID != c.wantID || gotURL != c.wantURL {
				t.Errorf("FileLink = %q, %q; want %q, %q", gotID, gotURL, c.wantID, c.wantURL)
			}
			if (c.dropped == "") != (dropped == "") || !strings.Contains(dropped, c.dropped) {
				t.Errorf("warning %q; want one holding %q", dropped, c.dropped)
			}
		})
	}
}

func TestProblems(t *testing.T) {
	var p validate.Problems
	if err := p.Err(); err != nil {
		t.Fatalf("Err() with nothing recorded = %v; want nil", err)
	}
	p.Add(nil)
	if err := p.Err(); err != nil {
		t.Fatalf("Err() after Add(nil) = %v; want nil", err)
	}
	_, err := validate.UUID("chat_id", "")
	p.Add(err)
	p.Addf("text: at most %d characters, got %d", 4000, 4001)
	wantInvalid(t, p.Err(), "chat_id: required, a UUID such as "+id+"; text: at most 4000 characters, got 4001")
}

func TestJoin(t *testing.T) {
	if err := validate.Join(nil, nil); err != nil {
		t.Fatalf("Join(nil, nil) = %v; want nil", err)
	}
	a := domainerr.Errorf(domainerr.ErrInvalidArgument, "email: required")
	b := domainerr.Errorf(domainerr.ErrInvalidArgument, "password: must be at least 8 characters")
	wantInvalid(t, validate.Join(a, nil, b), "email: required; password: must be at least 8 characters")
	wantInvalid(t, validate.Join(nil, b), "password: must be at least 8 characters")
}

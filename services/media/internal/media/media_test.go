package media

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestResolveType(t *testing.T) {
	for _, c := range []struct {
		purpose            Purpose
		declared, detected string
		want               string
		reason             Reason
	}{
		{PurposeAvatar, "image/png", "image/png", "image/png", ""},
		{PurposeAvatar, "image/png", "text/html; charset=utf-8", "", ReasonTypeMismatch},
		{PurposeAvatar, "image/png", "image/jpeg", "", ReasonTypeMismatch},
		{PurposeAvatar, "image/png", "image/gif", "", ReasonTypeNotAllowed},
		{PurposeAvatar, "image/webp", "application/octet-stream", "", ReasonTypeMismatch},
		{PurposeAttachment, "image/gif", "image/gif", "image/gif", ""},
		{PurposeAttachment, "image/png", "text/plain; charset=utf-8", "", ReasonTypeMismatch},
		{PurposeAttachment, "application/pdf", "image/png", "", ReasonTypeMismatch}, // an image is declared as one
		{PurposeAttachment, "application/pdf", "application/pdf", "application/pdf", ""},
		{PurposeAttachment, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/zip", "application/zip", ""},
		{PurposeAttachment, "text/html", "text/html; charset=utf-8", "text/html; charset=utf-8", ""},
		{PurposeAttachment, "application/x-anything", "application/octet-stream", "application/octet-stream", ""},
	} {
		got, rej := resolveType(c.purpose, c.declared, c.detected)
		if got != c.want || (rej == nil) != (c.reason == "") || (rej != nil && rej.Reason != c.reason) {
			t.Errorf("resolveType(%s, %s, %s) = %q, %+v; want %q, %q", c.purpose, c.declared, c.detected, got, rej, c.want, c.reason)
		}
	}
}

func TestURLSigner(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)
	u := NewURLSigner("https://parley.example/", []byte("k"), 5*time.Minute)
	id := "6f1c1e1a-6c61-4a8e-9a54-6f7b7a0f3e11"
	att := File{ID: id, Purpose: PurposeAttachment, Status: StatusReady, ThumbType: "image/png"}
	urls := u.URLs(att, now)
	if !urls.ExpiresAt.Equal(time.Date(2026, 3, 1, 12, 6, 0, 0, time.UTC)) {
		t.Fatalf("expires %v", urls.ExpiresAt)
	}
	// Within the same minute the URLs are the same (cacheable).
	if again := u.URLs(att, now.Add(20*time.Second)); again != urls {
		t.Fatalf("URLs differ within a minute: %v %v", again, urls)
	}
	p, err := url.Parse(urls.Thumb64)
	if err != nil || p.Path != FilesPath+id+"/64" || p.Host != "parley.example" {
		t.Fatalf("thumb url %q", urls.Thumb64)
	}
	q := p.Query()
	if err := u.Verify(id, VariantThumb64, q.Get("expires"), q.Get("sig"), now); err != nil {
		t.Fatal(err)
	}
	if err := u.Verify(id, VariantThumb256, q.Get("expires"), q.Get("sig"), now); !errors.Is(err, ErrLinkInvalid) {
		t.Fatalf("other variant: %v", err)
	}
	if err := NewURLSigner("https://parley.example", []byte("other"), time.Minute).Verify(id, VariantThumb64, q.Get("expires"), q.Get("sig"), now); !errors.Is(err, ErrLinkInvalid) {
		t.Fatalf("other key: %v", err)
	}
	if err := u.Verify(id, VariantThumb64, q.Get("expires"), q.Get("sig"), urls.ExpiresAt); !errors.Is(err, ErrLinkExpired) {
		t.Fatalf("at expiry: %v", err)
	}
	av := u.URLs(File{ID: id, Purpose: PurposeAvatar, Status: StatusReady}, now)
	if av.Original != "https://parley.example/media/files/"+id+"/original" || av.Thumb64 != "" || !av.ExpiresAt.IsZero() {
		t.Fatalf("avatar urls %+v", av)
	}
	if none := u.URLs(File{ID: id, Status: StatusPending}, now); none != (FileURLs{}) {
		t.Fatalf("pending file has URLs %+v", none)
	}
}

func TestKeysAndNames(t *testing.T) {
	id := NewFileID()
	if k, err := ObjectKey(id, VariantThumb256); err != nil || k != "files/"+id+"/256" {
		t.Fatalf("%q %v", k, err)
	}
	for _, bad := range []string{"../x", strings.ToUpper(id), id + "/..", ""} {
		if _, err := UploadKey(bad); err == nil {
			t.Errorf("UploadKey(%q) accepted", bad)
		}
	}
	if _, err := ObjectKey(id, "../../x"); err == nil {
		t.Error("ObjectKey accepted a made-up variant")
	}
	if d := Disposition(`résumé "final".pdf`, "application/pdf"); d != `attachment; filename*=utf-8''r%C3%A9sum%C3%A9%20%22final%22.pdf` {
		t.Errorf("disposition %q", d)
	}
	if d := Disposition("a.png", "image/png"); d != "inline; filename=a.png" {
		t.Errorf("disposition %q", d)
	}
	for n, want := range map[int64]string{1: "1 byte", 1023: "1023 bytes", 1024: "1 KiB", 1536: "1.5 KiB", 5 << 20: "5 MiB", 26 << 20: "26 MiB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestHumanBytesPairNeverShowsTwoDifferentSizesAlike: a message comparing two sizes that round to
// the same text gives the exact bytes instead ("5 MiB is over the limit of 5 MiB" said nothing).
func TestHumanBytesPairNeverShowsTwoDifferentSizesAlike(t *testing.T) {
	for _, c := range []struct {
		a, b         int64
		wantA, wantB string
	}{
		{5<<20 + 1, 5 << 20, "5242881 bytes", "5242880 bytes"},
		{1025, 1024, "1025 bytes", "1024 bytes"},
		{26 << 20, 25 << 20, "26 MiB", "25 MiB"},
		{1001, 1000, "1001 bytes", "1000 bytes"},
		{5 << 20, 5 << 20, "5 MiB", "5 MiB"},
	} {
		if a, b := HumanBytesPair(c.a, c.b); a != c.wantA || b != c.wantB {
			t.Errorf("HumanBytesPair(%d, %d) = %q, %q; want %q, %q", c.a, c.b, a, b, c.wantA, c.wantB)
		}
	}
	_, err := UploadRequest{Purpose: PurposeAvatar, FileName: "a.png", ContentType: "image/png", Size: 5<<20 + 1}.validate(Limits{MaxAvatarBytes: 5 << 20})
	if want := "size_bytes: 5242881 bytes is over the avatar limit of 5242880 bytes"; err == nil || err.Error() != want {
		t.Errorf("validate: %v; want %q", err, want)
	}
}

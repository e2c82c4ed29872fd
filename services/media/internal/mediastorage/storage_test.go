package mediastorage_test

import (
	"context"
	"errors"
	"html"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parleyhq/parley/services/media/internal/media"
	"github.com/parleyhq/parley/services/media/internal/mediastorage"
	"github.com/parleyhq/parley/services/media/internal/mediatest"
	"github.com/parleyhq/parley/services/media/internal/s3test"
)

// The tests run against a real S3 server: versitygw, started once for the package.
func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }

func newStore(t *testing.T) (*mediastorage.Store, string) {
	t.Helper()
	bucket := s3test.Bucket(t)
	s, err := mediastorage.New(mediastorage.Config{Endpoint: s3test.Endpoint(), Region: s3test.Region,
		AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey, Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	return s, bucket
}

func exists(t *testing.T, s *mediastorage.Store, key string) bool {
	t.Helper()
	_, err := s.Stat(context.Background(), key)
	if errors.Is(err, media.ErrObjectNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("stat %s: %v", key, err)
	}
	return true
}

func TestPresignedPostRoundTrip(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	key := "uploads/" + uuid.NewString()
	form, err := s.PresignPost(ctx, key, "image/png", 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(form.URL, s3test.Endpoint()+"/") || form.Fields["key"] != key || form.Fields["Content-Type"] != "image/png" ||
		form.Fields["policy"] == "" || form.Fields["X-Amz-Signature"] == "" {
		t.Fatalf("form %+v", form)
	}
	body := []byte(strings.Repeat("x", 60))
	if code, msg := mediatest.PostForm(t, form.URL, form.Fields, "a.png", body); code/100 != 2 {
		t.Fatalf("POST: %d %s", code, msg)
	}
	info, err := s.Stat(ctx, key)
	if err != nil || info.Size != 60 || info.ContentType != "image/png" {
		t.Fatalf("stat: %+v, %v", info, err)
	}
	head, err := s.ReadHead(ctx, key, 10)
	if err != nil || string(head) != strings.Repeat("x", 10) {
		t.Fatalf("head %q, %v", head, err)
	}
	if _, err := s.ReadAll(ctx, key, 59); !errors.Is(err, mediastorage.ErrTooLong) {
		t.Fatalf("ReadAll over the limit: %v", err)
	}
	if all, err := s.ReadAll(ctx, key, 60); err != nil || len(all) != 60 {
		t.Fatalf("ReadAll: %d bytes, %v", len(all), err)
	}
}

// TestPolicyRefusals proves that the S3 server itself enforces every condition of the form's
// policy: each altered POST is refused and stores nothing.
func TestPolicyRefusals(t *testing.T) {
	s, bucket := newStore(t)
	ctx := context.Background()
	key := "uploads/" + uuid.NewString()
	form, err := s.PresignPost(ctx, key, "image/png", 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	with := func(k, v string) map[string]string {
		f := map[string]string{}
		for kk, vv := range form.Fields {
			f[kk] = vv
		}
		if v == "" {
			delete(f, k)
		} else {
			f[k] = v
		}
		return f
	}
	cases := []struct {
		name   string
		fields map[string]string
		body   []byte
		want   string // the S3 error code, and the condition when the policy refused
	}{
		{"one byte over content-length-range", form.Fields, []byte(strings.Repeat("x", 101)), "<Code>EntityTooLarge</Code>"},
		{"empty file (under content-length-range)", form.Fields, nil, "<Code>EntityTooSmall</Code>"},
		{"another Content-Type", with("Content-Type", "text/html"), []byte("<html>"), "$Content-Type"},
		{"no Content-Type", with("Content-Type", ""), []byte("x"), "$Content-Type"},
		{"another key", with("key", "uploads/"+uuid.NewString()), []byte("x"), "$key"},
		{"a traversing key", with("key", key+"/../../evil"), []byte("x"), "$key"},
		{"a field the policy does not cover", with("x-amz-meta-evil", "1"), []byte("x"), "Extra input fields: x-amz-meta-evil"},
		{"a redirect the policy does not cover", with("success_action_redirect", "https://evil.example/"), []byte("x"), "Extra input fields: success_action_redirect"},
		{"a forged signature", with("X-Amz-Signature", strings.Repeat("0", 64)), []byte("x"), "<Code>SignatureDoesNotMatch</Code>"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, msg := mediatest.PostForm(t, form.URL, c.fields, "a.png", c.body)
			if code/100 == 2 {
				t.Fatalf("POST accepted: %d %s", code, msg)
			}
			if code/100 != 4 {
				t.Fatalf("POST answered %d, want a 4xx refusal: %s", code, msg)
			}
			if !strings.Contains(html.UnescapeString(msg), c.want) {
				t.Fatalf("refused for another reason than %q: %d %s", c.want, code, msg)
			}
		})
	}
	if keys := s3test.Keys(t, bucket); len(keys) != 0 {
		t.Fatalf("refused POSTs stored %v", keys)
	}
	// The untouched form still works: the refusals were the conditions, not a broken form.
	if code, msg := mediatest.PostForm(t, form.URL, form.Fields, "a.png", []byte("x")); code/100 != 2 {
		t.Fatalf("POST: %d %s", code, msg)
	}
}

func TestExpiredFormRefused(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	key := "uploads/" + uuid.NewString()
	form, err := s.PresignPost(ctx, key, "text/plain", 10, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(form.ExpiresAt) + 1100*time.Millisecond) // let the policy lapse (expiry has 1s precision)
	code, msg := mediatest.PostForm(t, form.URL, form.Fields, "a.txt", []byte("hi"))
	if code/100 != 4 || !strings.Contains(msg, "expired") {
		t.Fatalf("expired form: %d %s", code, msg)
	}
	if exists(t, s, key) {
		t.Fatal("expired form stored the object")
	}
}

func TestPutCopyOpenDelete(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	id := uuid.NewString()
	src, dst := "uploads/"+id, "files/"+id+"/original"
	if err := s.Put(ctx, src, []byte("hello, world"), "text/plain", "attachment"); err != nil {
		t.Fatal(err)
	}
	if err := s.Copy(ctx, src, dst, "application/pdf", `attachment; filename="x.pdf"`); err != nil {
		t.Fatal(err)
	}
	if info, err := s.Stat(ctx, dst); err != nil || info.ContentType != "application/pdf" || info.Size != 12 {
		t.Fatalf("copy: %+v, %v", info, err)
	}
	obj, err := s.Open(ctx, dst, "bytes=7-11")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(b) != "world" || obj.Size != 5 || obj.Total != 12 || obj.ContentRange != "bytes 7-11/12" {
		t.Fatalf("range read %q %+v", b, obj)
	}
	if _, err := s.Open(ctx, dst, "bytes=100-200"); !errors.Is(err, media.ErrRangeNotSatisfiable) {
		t.Fatalf("unsatisfiable range: %v", err)
	}
	if err := s.Delete(ctx, src, dst, "files/"+id+"/64"); err != nil { // a missing key is no error
		t.Fatal(err)
	}
	if exists(t, s, src) || exists(t, s, dst) {
		t.Fatal("objects survive Delete")
	}
	if _, err := s.Open(ctx, dst, ""); !errors.Is(err, media.ErrObjectNotFound) {
		t.Fatalf("open deleted: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

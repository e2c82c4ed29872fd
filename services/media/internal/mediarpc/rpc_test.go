package mediarpc_test

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	mediav1 "github.com/parleyhq/parley/contracts/gen/go/parley/media/v1"
	"github.com/parleyhq/parley/platform/rpctest"
	"github.com/parleyhq/parley/services/media/internal/media"
	"github.com/parleyhq/parley/services/media/internal/mediatest"
	"github.com/parleyhq/parley/services/media/internal/s3test"
)

const (
	avatar     = mediav1.FilePurpose_FILE_PURPOSE_AVATAR
	attachment = mediav1.FilePurpose_FILE_PURPOSE_ATTACHMENT
)

// keyPattern is every key the service may ever create: made of a file id and a fixed word.
var keyPattern = regexp.MustCompile(`^(uploads/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}|files/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/(original|64|256))$`)

func decodeSize(t *testing.T, data []byte) (int, int, string) {
	t.Helper()
	c, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return c.Width, c.Height, format
}

func TestAvatarRoundTrip(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	data := mediatest.PNG(t, mediatest.TwoColour(300, 200))
	form := e.create(t, e.alice, avatar, "me.png", "image/png", len(data), "")
	if form.GetFormFields()["key"] != "uploads/"+form.GetFileId() || form.GetFormFields()["Content-Type"] != "image/png" ||
		form.GetMaxSizeBytes() != int64(len(data)) || !strings.HasPrefix(form.GetUploadUrl(), s3test.Endpoint()+"/"+e.bucket) {
		t.Fatalf("form %v", form)
	}
	if d := form.GetExpiresAt().AsTime().Sub(e.clock.now()); d != 15*time.Minute {
		t.Fatalf("form expires in %v", d)
	}
	if code, body := mediatest.PostForm(t, form.GetUploadUrl(), form.GetFormFields(), "me.png", data); code/100 != 2 {
		t.Fatalf("POST: %d %s", code, body)
	}
	id := form.GetFileId()
	// Before completion the owner sees it PENDING, without URLs; nobody else sees it.
	f, err := e.getFile(t, e.alice, id)
	if err != nil || f.GetStatus() != mediav1.FileStatus_FILE_STATUS_PENDING || f.GetUrl() != "" || f.GetSizeBytes() != int64(len(data)) {
		t.Fatalf("pending: %v %v", f, err)
	}
	_, err = e.getFile(t, e.bob, id)
	rpctest.WantCode(t, err, connect.CodeNotFound, "file_id: no file")

	f = e.mustComplete(t, e.alice, id)
	if f.GetContentType() != "image/png" || f.GetWidth() != 300 || f.GetHeight() != 200 || f.GetName() != "me.png" ||
		f.GetOwnerId() != e.alice || f.GetPurpose() != avatar || f.GetUrlExpiresAt() != nil {
		t.Fatalf("ready: %v", f)
	}
	if want := e.base + "/media/files/" + id + "/original"; f.GetUrl() != want || f.GetThumbnail_64Url() != e.base+"/media/files/"+id+"/64" {
		t.Fatalf("urls %q %q, want stable %q", f.GetUrl(), f.GetThumbnail_64Url(), want)
	}

	// Anyone may fetch an avatar, with no token; the headers are the service's own.
	res, body := fetch(t, f.GetUrl())
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/png" || res.Header.Get("X-Content-Type-Options") != "nosniff" ||
		res.Header.Get("Content-Disposition") != `inline; filename=me.png` || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") ||
		res.Header.Get("Content-Security-Policy") != "default-src 'none'; sandbox" {
		t.Fatalf("GET avatar: %d %v", res.StatusCode, res.Header)
	}
	if w, h, format := decodeSize(t, body); w != 300 || h != 200 || format != "png" || int64(len(body)) != f.GetSizeBytes() {
		t.Fatalf("avatar bytes: %dx%d %s, %d bytes", w, h, format, len(body))
	}
	for _, c := range []struct {
		url  string
		side int
	}{{f.GetThumbnail_64Url(), 64}, {f.GetThumbnail_256Url(), 256}} {
		res, body := fetch(t, c.url)
		if w, h, _ := decodeSize(t, body); res.StatusCode != http.StatusOK || w != c.side || h != c.side || res.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("thumbnail %d: %d %dx%d %s", c.side, res.StatusCode, w, h, res.Header.Get("Content-Type"))
		}
	}
	// Ready avatars are visible to any signed-in user.
	if f2, err := e.getFile(t, e.carol, id); err != nil || f2.GetUrl() != f.GetUrl() {
		t.Fatalf("carol GetFile: %v %v", f2, err)
	}

	// Completing again returns the same file and publishes nothing more.
	again := e.mustComplete(t, e.alice, id)
	if !proto.Equal(again, f) {
		t.Fatalf("second completion %v", again)
	}
	if n := e.count(t, `SELECT count(*) FROM outbox`); n != 1 {
		t.Fatalf("%d events", n)
	}
	var payload []byte
	_ = e.pool.QueryRow(ctx, `SELECT payload FROM outbox`).Scan(&payload)
	var ev eventsv1.FileUploaded
	if err := proto.Unmarshal(payload, &ev); err != nil || ev.GetFileId() != id || ev.GetOwnerId() != e.alice || ev.GetPurpose() != "avatar" || ev.GetSizeBytes() != f.GetSizeBytes() {
		t.Fatalf("FileUploaded %v %v", &ev, err)
	}
	q, err := e.client.GetQuota(ctx, as(t, e, e.alice, &mediav1.GetQuotaRequest{}))
	if err != nil || q.Msg.GetUsedBytes() != f.GetSizeBytes() || q.Msg.GetReservedBytes() != 0 || q.Msg.GetLimitBytes() != 100<<20 ||
		q.Msg.GetMaxAvatarSizeBytes() != 5<<20 || q.Msg.GetMaxAttachmentSizeBytes() != 25<<20 {
		t.Fatalf("quota %v %v", q, err)
	}
	// The upload key is gone; the checked file lives under keys of its own.
	keys := s3test.Keys(t, e.bucket)
	if strings.Join(keys, ",") != "files/"+id+"/256,files/"+id+"/64,files/"+id+"/original" {
		t.Fatalf("keys %v", keys)
	}
}

// TestOversizedUploadRefused: the form's policy makes S3 refuse a body larger than declared, so
// nothing is stored and CompleteUpload has nothing to check. When storage does not enforce a
// policy (simulated by writing the object directly), CompleteUpload's own size checks refuse.
func TestOversizedUploadRefused(t *testing.T) {
	e := setup(t, func(l *media.Limits) { l.MaxAvatarBytes = 1000 })
	form := e.create(t, e.alice, avatar, "big.png", "image/png", 100, "")
	code, body := mediatest.PostForm(t, form.GetUploadUrl(), form.GetFormFields(), "big.png", bytes.Repeat([]byte{1}, 101))
	if code/100 != 4 || !strings.Contains(body, "EntityTooLarge") {
		t.Fatalf("oversized POST: %d %s", code, body)
	}
	_, err := e.complete(t, e.alice, form.GetFileId())
	rpctest.WantCode(t, err, connect.CodeFailedPrecondition, "nothing has been uploaded yet")

	// Over the purpose's limit at CreateUpload.
	_, err = e.client.CreateUpload(context.Background(), as(t, e, e.alice, &mediav1.CreateUploadRequest{
		Purpose: avatar, FileName: "x.png", ContentType: "image/png", SizeBytes: 1001}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "size_bytes: 1001 bytes is over the avatar limit of 1000 bytes")

	// Storage that let a bigger body through: CompleteUpload catches it.
	put := func(id string, size int, ct string) {
		_, err := s3test.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(e.bucket),
			Key: aws.String("uploads/" + id), Body: bytes.NewReader(bytes.Repeat([]byte{1}, size)), ContentType: aws.String(ct)})
		if err != nil {
			t.Fatal(err)
		}
	}
	put(form.GetFileId(), 1500, "image/png")
	_, err = e.complete(t, e.alice, form.GetFileId())
	if r := rejection(t, err); r.GetReason() != mediav1.RejectionReason_REJECTION_REASON_TOO_LARGE || r.GetMessage() != "the file is 1.5 KiB; avatars may be at most 1000 bytes" {
		t.Fatalf("too large: %v", r)
	}
	other := e.create(t, e.alice, avatar, "b.png", "image/png", 100, "")
	put(other.GetFileId(), 101, "image/png")
	_, err = e.complete(t, e.alice, other.GetFileId())
	if r := rejection(t, err); r.GetReason() != mediav1.RejectionReason_REJECTION_REASON_SIZE_MISMATCH ||
		r.GetMessage() != "the uploaded file is 101 bytes, but CreateUpload declared 100 bytes" || r.GetFileId() != other.GetFileId() {
		t.Fatalf("size mismatch: %v", r)
	}
	// And one sent with another Content-Type than the policy pins.
	third := e.create(t, e.alice, avatar, "c.png", "image/png", 100, "")
	put(third.GetFileId(), 100, "text/html")
	_, err = e.complete(t, e.alice, third.GetFileId())
	if r := rejection(t, err); r.GetReason() != mediav1.RejectionReason_REJECTION_REASON_TYPE_MISMATCH || !strings.Contains(r.GetMessage(), `uploaded as "text/html"`) {
		t.Fatalf("content type: %v", r)
	}
	if keys := s3test.Keys(t, e.bucket); len(keys) != 0 {
		t.Fatalf("rejected uploads left %v", keys)
	}
}

// TestOversizedByABytePrintsExactBytes: sizes that round to the same text are given in bytes, at
// CreateUpload and at CompleteUpload ("1 KiB is over the limit of 1 KiB" would say nothing).
func TestOversizedByABytePrintsExactBytes(t *testing.T) {
	e := setup(t, func(l *media.Limits) { l.MaxAvatarBytes = 1024 })
	_, err := e.client.CreateUpload(context.Background(), as(t, e, e.alice, &mediav1.CreateUploadRequest{
		Purpose: avatar, FileName: "x.png", ContentType: "image/png", SizeBytes: 1025}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "size_bytes: 1025 bytes is over the avatar limit of 1024 bytes")

	form := e.create(t, e.alice, avatar, "big.png", "image/png", 1000, "")
	_, err = s3test.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(e.bucket),
		Key: aws.String("uploads/" + form.GetFileId()), Body: bytes.NewReader(bytes.Repeat([]byte{1}, 1025)), ContentType: aws.String("image/png")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.complete(t, e.alice, form.GetFileId())
	if r := rejection(t, err); r.GetReason() != mediav1.RejectionReason_REJECTION_REASON_TOO_LARGE || r.GetMessage() != "the file is 1025 bytes; avatars may be at most 1024 bytes" {
		t.Fatalf("too large: %v", r)
	}
}

func TestHTMLNamedPNGRefused(t *testing.T) {
	e := setup(t)
	html := []byte("<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>")
	for _, c := range []struct {
		purpose mediav1.FilePurpose
		chatID  string
	}{{avatar, ""}, {attachment, e.chatID}} {
		id := e.upload(t, e.alice, c.purpose, "cat.png", "image/png", html, c.chatID) // S3 takes it: the type is as declared
		_, err := e.complete(t, e.alice, id)
		r := rejection(t, err)
		if r.GetReason() != mediav1.RejectionReason_REJECTION_REASON_TYPE_MISMATCH ||
			r.GetMessage() != "the file was declared as image/png, but its content is an HTML document (text/html)" {
			t.Fatalf("%v: %v", c.purpose, r)
		}
		rpctest.WantCode(t, err, connect.CodeInvalidArgument, "the file was declared as image/png, but its content is an HTML document")
		// The owner sees it REJECTED with the reason, without URLs; completing again answers the same.
		f, err := e.getFile(t, e.alice, id)
		if err != nil || f.GetStatus() != mediav1.FileStatus_FILE_STATUS_REJECTED || f.GetUrl() != "" ||
			f.GetRejectionReason() != mediav1.RejectionReason_REJECTION_REASON_TYPE_MISMATCH {
			t.Fatalf("rejected file %v %v", f, err)
		}
		_, err = e.complete(t, e.alice, id)
		if again := rejection(t, err); !proto.Equal(again, r) {
			t.Fatalf("second completion %v", again)
		}
		res, _ := fetch(t, e.base+"/media/files/"+id+"/original")
		if res.StatusCode != http.StatusNotFound {
			t.Fatalf("rejected file served: %d", res.StatusCode)
		}
	}
	if keys := s3test.Keys(t, e.bucket); len(keys) != 0 {
		t.Fatalf("rejected files left %v", keys)
	}
	if n := e.count(t, `SELECT count(*) FROM outbox`); n != 0 {
		t.Fatalf("rejections published %d events", n)
	}
	// A GIF is a real image, but not an allowed avatar.
	gif := []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
	id := e.upload(t, e.alice, avatar, "a.png", "image/png", gif, "")
	_, err := e.complete(t, e.alice, id)
	if r := rejection(t, err); r.GetReason() != mediav1.RejectionReason_REJECTION_REASON_TYPE_NOT_ALLOWED || r.GetMessage() != "the file is a GIF image; avatars must be JPEG, PNG or WebP" {
		t.Fatalf("gif avatar: %v", r)
	}
}

// TestPixelFloodRefusedWithoutDecoding uploads a 30,000 × 30,000 PNG — a valid header and a few
// bytes — and checks CompleteUpload refuses it from the header while the process's allocations
// stay tiny: decoding it would need 3.6 GB.
func TestPixelFloodRefusedWithoutDecoding(t *testing.T) {
	e := setup(t)
	data := mediatest.PNGHeader(30000, 30000)
	id := e.upload(t, e.alice, attachment, "flood.png", "image/png", data, e.chatID)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := e.complete(t, e.alice, id)
	runtime.ReadMemStats(&after)
	r := rejection(t, err)
	if r.GetReason() != mediav1.RejectionReason_REJECTION_REASON_DIMENSIONS_TOO_LARGE || r.GetMessage() != "the image is 30000x30000 pixels; at most 8192 on a side" {
		t.Fatalf("flood: %v", r)
	}
	// Everything this process allocated during the call (client, server, S3 and Postgres work):
	// a few MB at most, against 3.6 GB for the pixels.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
		t.Fatalf("CompleteUpload allocated %d MB; the image was decoded", grew>>20)
	}
	if after.HeapInuse > before.HeapInuse+64<<20 {
		t.Fatalf("heap grew from %d to %d MB", before.HeapInuse>>20, after.HeapInuse>>20)
	}
}

func TestEXIFRemoved(t *testing.T) {
	e := setup(t)
	data := mediatest.JPEGWithEXIF(t, mediatest.TwoColour(40, 20), mediatest.EXIF(6, "SECRET-GPS-48.8582N"))
	id := e.upload(t, e.alice, attachment, "holiday.jpg", "image/jpeg", data, e.chatID)
	f := e.mustComplete(t, e.alice, id)
	// Orientation applied: 40×20 stored as 20×40.
	if f.GetWidth() != 20 || f.GetHeight() != 40 || f.GetContentType() != "image/jpeg" {
		t.Fatalf("file %v", f)
	}
	res, body := fetch(t, f.GetUrl())
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("GET: %d %v", res.StatusCode, res.Header)
	}
	for _, leak := range []string{"Exif", "SECRET-GPS", "\xff\xe1"} {
		if bytes.Contains(body, []byte(leak)) {
			t.Fatalf("stored file still holds %q", leak)
		}
	}
	m, err := jpeg.Decode(bytes.NewReader(body))
	if err != nil || m.Bounds().Dx() != 20 || m.Bounds().Dy() != 40 {
		t.Fatalf("stored image %v %v", m.Bounds(), err)
	}
	// Thumbnails of attachments keep the aspect ratio.
	_, thumb := fetch(t, f.GetThumbnail_256Url())
	if w, h, _ := decodeSize(t, thumb); w != 20 || h != 40 {
		t.Fatalf("thumbnail %dx%d (small images are not enlarged)", w, h)
	}
}

// TestKeysAreServerGenerated: nothing a client sends reaches a storage key.
func TestKeysAreServerGenerated(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	for _, name := range []string{"../../etc/passwd", `..\..\boot.ini`, "a/b.png"} {
		_, err := e.client.CreateUpload(ctx, as(t, e, e.alice, &mediav1.CreateUploadRequest{
			Purpose: attachment, FileName: name, ContentType: "text/plain", SizeBytes: 5, ChatId: e.chatID}))
		rpctest.WantCode(t, err, connect.CodeInvalidArgument, "file_name: must be a plain name without path separators")
	}
	_, err := e.client.CreateUpload(ctx, as(t, e, e.alice, &mediav1.CreateUploadRequest{
		Purpose: attachment, FileName: "..", ContentType: "text/plain", SizeBytes: 5, ChatId: e.chatID}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "file_name: must be a file name, not . or ..")
	_, err = e.client.CreateUpload(ctx, as(t, e, e.alice, &mediav1.CreateUploadRequest{
		Purpose: attachment, FileName: "a.txt", ContentType: "text/plain", SizeBytes: 5, ChatId: "../" + e.chatID}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "chat_id: must be a UUID")

	// Names full of markup and dots are display text only.
	names := []string{`<img src=x onerror=alert(1)>.png`, "...png", "%2e%2e%2fpasswd.png"}
	for _, name := range names {
		id := e.upload(t, e.alice, attachment, name, "image/png", mediatest.PNG(t, mediatest.TwoColour(8, 8)), e.chatID)
		if f := e.mustComplete(t, e.alice, id); f.GetName() != name {
			t.Fatalf("name %q", f.GetName())
		}
	}
	keys := s3test.Keys(t, e.bucket)
	if len(keys) != 3*3 {
		t.Fatalf("keys %v", keys)
	}
	for _, k := range keys {
		if !keyPattern.MatchString(k) {
			t.Fatalf("key %q is not made of a file id alone", k)
		}
	}
	// Ids and variants from requests are checked, never joined into keys.
	_, err = e.complete(t, e.alice, "../uploads/x")
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "file_id: must be a UUID")
	_, err = e.getFile(t, e.alice, "files/"+uuid.NewString())
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "file_id: must be a UUID")
	id := strings.Split(keys[0], "/")[1] // files/<id>/<variant>
	for _, path := range []string{
		"/media/files/" + id + "/%2e%2e",
		"/media/files/" + id + "/..%2f..%2fuploads",
		"/media/files/" + strings.ToUpper(id) + "/original",
		"/media/files/" + id + "/thumb",
		"/media/files/..%2f" + id + "/original",
	} {
		res, _ := fetch(t, e.base+path)
		if res.StatusCode != http.StatusNotFound {
			t.Fatalf("GET %s: %d", path, res.StatusCode)
		}
	}
}

func TestSignedURLs(t *testing.T) {
	e := setup(t)
	pdf := []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
	id := e.upload(t, e.alice, attachment, "report.pdf", "application/pdf", pdf, e.chatID)
	f := e.mustComplete(t, e.alice, id)
	if f.GetContentType() != "application/pdf" || f.GetThumbnail_64Url() != "" || f.GetUrlExpiresAt() == nil {
		t.Fatalf("file %v", f)
	}
	exp := f.GetUrlExpiresAt().AsTime()
	if life := exp.Sub(e.clock.now()); life < 5*time.Minute || life > 6*time.Minute {
		t.Fatalf("URL lives %v", life)
	}
	// A non-image is always a download, never rendered.
	res, body := fetch(t, f.GetUrl())
	if res.StatusCode != http.StatusOK || !bytes.Equal(body, pdf) || res.Header.Get("Content-Type") != "application/pdf" ||
		res.Header.Get("Content-Disposition") != "attachment; filename=report.pdf" || res.Header.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(res.Header.Get("Cache-Control"), "private") {
		t.Fatalf("GET: %d %v", res.StatusCode, res.Header)
	}
	res, body = fetch(t, f.GetUrl(), "Range", "bytes=0-7")
	if res.StatusCode != http.StatusPartialContent || string(body) != "%PDF-1.4" || res.Header.Get("Content-Range") != "bytes 0-7/"+itoa(len(pdf)) {
		t.Fatalf("range: %d %q %v", res.StatusCode, body, res.Header)
	}

	// Tampering with any part of the URL breaks it.
	for _, bad := range []string{
		strings.Replace(f.GetUrl(), "sig=", "sig=A", 1),
		strings.Replace(f.GetUrl(), "expires=", "expires=9", 1),
		strings.Replace(f.GetUrl(), "/original?", "/64?", 1),
		strings.Split(f.GetUrl(), "?")[0],
	} {
		res, body := fetch(t, bad)
		if bad == strings.Replace(f.GetUrl(), "/original?", "/64?", 1) {
			if res.StatusCode != http.StatusNotFound { // no thumbnails for a PDF
				t.Fatalf("GET %s: %d", bad, res.StatusCode)
			}
			continue
		}
		if res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "not valid") {
			t.Fatalf("GET %s: %d %s", bad, res.StatusCode, body)
		}
	}
	// Expired URLs are refused.
	e.clock.advance(exp.Sub(e.clock.now()) + time.Second)
	res, body = fetch(t, f.GetUrl())
	if res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "expired") {
		t.Fatalf("expired URL: %d %s", res.StatusCode, body)
	}
	// A fresh GetFile gives fresh URLs.
	f2, err := e.getFile(t, e.bob, id)
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := fetch(t, f2.GetUrl()); res.StatusCode != http.StatusOK {
		t.Fatalf("fresh URL: %d", res.StatusCode)
	}

	// An HTML attachment is stored as what it is, and only ever downloaded.
	html := []byte("<html><script>alert(1)</script></html>")
	id = e.upload(t, e.alice, attachment, "page.html", "text/html", html, e.chatID)
	f = e.mustComplete(t, e.alice, id)
	res, _ = fetch(t, f.GetUrl())
	if res.Header.Get("Content-Type") != "text/html; charset=utf-8" || res.Header.Get("Content-Disposition") != "attachment; filename=page.html" ||
		res.Header.Get("Content-Security-Policy") != "default-src 'none'; sandbox" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("html attachment served with %v", res.Header)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestStrangerCannotGetAttachment(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	data := mediatest.PNG(t, mediatest.TwoColour(10, 10))
	id := e.upload(t, e.alice, attachment, "p.png", "image/png", data, e.chatID)
	// Pending: only the owner sees it, even in the chat.
	_, err := e.getFile(t, e.bob, id)
	rpctest.WantCode(t, err, connect.CodeNotFound, "")
	e.mustComplete(t, e.alice, id)

	calls := e.chat.callCount()
	f, err := e.getFile(t, e.bob, id)
	if err != nil || f.GetUrl() == "" || f.GetChatId() != e.chatID {
		t.Fatalf("bob (in the chat): %v %v", f, err)
	}
	if got := e.chat.internalToken(); got != internalToken {
		t.Fatalf("chat saw internal token %q", got)
	}
	// Bob's answer is cached: asking again does not ask the chat service.
	if _, err := e.getFile(t, e.bob, id); err != nil || e.chat.callCount() != calls+1 {
		t.Fatalf("chat asked %d times for two reads", e.chat.callCount()-calls)
	}
	// Carol is no participant: the file does not exist for her.
	_, err = e.getFile(t, e.carol, id)
	rpctest.WantCode(t, err, connect.CodeNotFound, "file_id: no file "+id)
	res, err := e.client.BatchGetFiles(ctx, as(t, e, e.carol, &mediav1.BatchGetFilesRequest{FileIds: []string{id}}))
	if err != nil || len(res.Msg.GetFiles()) != 0 {
		t.Fatalf("carol's batch: %v %v", res, err)
	}
	// Nor can she upload into the chat; a participant who may no longer send gets a clear answer.
	_, err = e.client.CreateUpload(ctx, as(t, e, e.carol, &mediav1.CreateUploadRequest{
		Purpose: attachment, FileName: "x.txt", ContentType: "text/plain", SizeBytes: 1, ChatId: e.chatID}))
	rpctest.WantCode(t, err, connect.CodeNotFound, "chat_id: no chat "+e.chatID+" of yours")
	readOnly := uuid.NewString()
	e.chat.set(readOnly, e.alice, media.ChatAccess{Participant: true})
	_, err = e.client.CreateUpload(ctx, as(t, e, e.alice, &mediav1.CreateUploadRequest{
		Purpose: attachment, FileName: "x.txt", ContentType: "text/plain", SizeBytes: 1, ChatId: readOnly}))
	rpctest.WantCode(t, err, connect.CodeFailedPrecondition, "chat_id: you can no longer send in this chat")
	// The chat service being down is Unavailable, not a denial.
	e.chat.setDown()
	_, err = e.getFile(t, e.carol, id)
	rpctest.WantCode(t, err, connect.CodeUnavailable, "the chat service cannot be reached")
}

func TestBatchGetFiles(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	png := mediatest.PNG(t, mediatest.TwoColour(10, 10))
	av := e.upload(t, e.alice, avatar, "a.png", "image/png", png, "")
	e.mustComplete(t, e.alice, av)
	att := e.upload(t, e.alice, attachment, "b.png", "image/png", png, e.chatID)
	e.mustComplete(t, e.alice, att)
	pending := e.create(t, e.alice, attachment, "c.txt", "text/plain", 3, e.chatID).GetFileId()
	ids := []string{av, att, pending, uuid.NewString(), av}

	internal := func(token string, ids []string) (*mediav1.BatchGetFilesResponse, error) {
		req := connect.NewRequest(&mediav1.BatchGetFilesRequest{FileIds: ids})
		if token != "" {
			req.Header().Set("X-Parley-Internal-Token", token)
		}
		res, err := e.client.BatchGetFiles(ctx, req)
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}
	res, err := internal(internalToken, ids)
	if err != nil || len(res.GetFiles()) != 3 {
		t.Fatalf("internal batch: %v %v", res, err)
	}
	for _, f := range res.GetFiles() {
		if (f.GetStatus() == mediav1.FileStatus_FILE_STATUS_READY) != (f.GetUrl() != "") {
			t.Fatalf("file %v", f)
		}
	}
	_, err = internal("", ids)
	rpctest.WantCode(t, err, connect.CodePermissionDenied, "BatchGetFiles is internal")
	_, err = internal("wrong", ids)
	rpctest.WantCode(t, err, connect.CodePermissionDenied, "internal token is not valid")
	_, err = internal(internalToken, make([]string, 101))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "file_ids: at most 100 ids per call, got 101")
	_, err = internal(internalToken, []string{av, "nope"})
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "file_ids[1]: must be a UUID")

	// On bob's behalf (his token forwarded): what bob may see.
	byBob, err := e.client.BatchGetFiles(ctx, as(t, e, e.bob, &mediav1.BatchGetFilesRequest{FileIds: ids}))
	if err != nil || len(byBob.Msg.GetFiles()) != 2 {
		t.Fatalf("bob's batch: %v %v", byBob, err)
	}
}

func TestQuotaEnforced(t *testing.T) {
	e := setup(t, func(l *media.Limits) { l.QuotaBytes = 1000 })
	ctx := context.Background()
	text := bytes.Repeat([]byte("a"), 600)
	id := e.upload(t, e.alice, attachment, "a.txt", "text/plain", text, e.chatID)
	_, err := e.client.CreateUpload(ctx, as(t, e, e.alice, &mediav1.CreateUploadRequest{
		Purpose: attachment, FileName: "b.txt", ContentType: "text/plain", SizeBytes: 401, ChatId: e.chatID}))
	rpctest.WantCode(t, err, connect.CodeResourceExhausted, "storage quota exceeded: this upload needs 401 bytes but only 400 bytes of your 1000 bytes are free")
	q, _ := e.client.GetQuota(ctx, as(t, e, e.alice, &mediav1.GetQuotaRequest{}))
	if q.Msg.GetReservedBytes() != 600 || q.Msg.GetUsedBytes() != 0 {
		t.Fatalf("quota %v", q.Msg)
	}
	f := e.mustComplete(t, e.alice, id)
	if f.GetContentType() != "text/plain; charset=utf-8" || f.GetSizeBytes() != 600 {
		t.Fatalf("file %v", f)
	}
	q, _ = e.client.GetQuota(ctx, as(t, e, e.alice, &mediav1.GetQuotaRequest{}))
	if q.Msg.GetReservedBytes() != 0 || q.Msg.GetUsedBytes() != 600 {
		t.Fatalf("quota after completion %v", q.Msg)
	}
	// Bob's quota is his own.
	e.create(t, e.bob, attachment, "b.txt", "text/plain", 1000, e.chatID)

	// Deleting frees the room, and the bytes.
	_, err = e.client.DeleteFile(ctx, as(t, e, e.bob, &mediav1.DeleteFileRequest{FileId: id}))
	rpctest.WantCode(t, err, connect.CodeNotFound, "file_id: no file "+id+" of yours")
	if _, err := e.client.DeleteFile(ctx, as(t, e, e.alice, &mediav1.DeleteFileRequest{FileId: id})); err != nil {
		t.Fatal(err)
	}
	_, err = e.getFile(t, e.alice, id)
	rpctest.WantCode(t, err, connect.CodeNotFound, "")
	for _, k := range s3test.Keys(t, e.bucket) {
		if strings.Contains(k, id) {
			t.Fatalf("deleted file's object %s remains", k)
		}
	}
	e.create(t, e.alice, attachment, "c.txt", "text/plain", 1000, e.chatID)
}

// TestUnfinishedUploadsExpire: a form not completed in time cannot be completed, stops counting,
// and the janitor removes its bytes and row; a form used again after completion is cleared too.
func TestUnfinishedUploadsExpire(t *testing.T) {
	e := setup(t, func(l *media.Limits) { l.QuotaBytes = 100 })
	ctx := context.Background()
	abandoned := e.upload(t, e.alice, attachment, "a.txt", "text/plain", []byte("abandoned"), e.chatID)
	// A completed upload whose still-valid form is used once more.
	done := e.create(t, e.alice, attachment, "b.txt", "text/plain", 4, e.chatID)
	if code, _ := mediatest.PostForm(t, done.GetUploadUrl(), done.GetFormFields(), "b.txt", []byte("good")); code/100 != 2 {
		t.Fatal(code)
	}
	e.mustComplete(t, e.alice, done.GetFileId())
	if code, _ := mediatest.PostForm(t, done.GetUploadUrl(), done.GetFormFields(), "b.txt", []byte("evil")); code/100 != 2 {
		t.Fatal(code)
	}
	// The checked file is not what the second POST wrote.
	f, _ := e.getFile(t, e.alice, done.GetFileId())
	if _, body := fetch(t, f.GetUrl()); string(body) != "good" {
		t.Fatalf("served %q", body)
	}

	e.clock.advance(15 * time.Minute)
	_, err := e.complete(t, e.alice, abandoned)
	rpctest.WantCode(t, err, connect.CodeNotFound, "file_id: the upload expired at")
	q, _ := e.client.GetQuota(ctx, as(t, e, e.alice, &mediav1.GetQuotaRequest{}))
	if q.Msg.GetReservedBytes() != 0 {
		t.Fatalf("expired upload still reserves %d bytes", q.Msg.GetReservedBytes())
	}
	// Within the grace period the janitor leaves everything alone.
	if st, err := e.svc.Sweep(ctx, 24*time.Hour); err != nil || st != (media.SweepStats{}) {
		t.Fatalf("early sweep %+v %v", st, err)
	}
	e.clock.advance(media.SweepGrace + time.Second)
	st, err := e.svc.Sweep(ctx, 24*time.Hour)
	if err != nil || st.Expired != 1 || st.Swept != 1 {
		t.Fatalf("sweep %+v %v", st, err)
	}
	if n := e.count(t, `SELECT count(*) FROM files WHERE file_id = $1`, abandoned); n != 0 {
		t.Fatal("expired upload's row remains")
	}
	keys := s3test.Keys(t, e.bucket)
	if strings.Join(keys, ",") != "files/"+done.GetFileId()+"/original" {
		t.Fatalf("keys after sweep %v", keys)
	}
	if st, err := e.svc.Sweep(ctx, 24*time.Hour); err != nil || st != (media.SweepStats{}) {
		t.Fatalf("second sweep %+v %v", st, err)
	}
}

func TestValidationAndAuthentication(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	_, err := e.client.CreateUpload(ctx, connect.NewRequest(&mediav1.CreateUploadRequest{}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "")
	_, err = e.client.GetQuota(ctx, connect.NewRequest(&mediav1.GetQuotaRequest{}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "")

	_, err = e.client.CreateUpload(ctx, as(t, e, e.alice, &mediav1.CreateUploadRequest{}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "purpose: required; FILE_PURPOSE_AVATAR or FILE_PURPOSE_ATTACHMENT; file_name: required (the file's name, for display); content_type: required, e.g. \"image/png\"; size_bytes: must be at least 1")
	_, err = e.client.CreateUpload(ctx, as(t, e, e.alice, &mediav1.CreateUploadRequest{
		Purpose: avatar, FileName: "a.pdf", ContentType: "application/pdf", SizeBytes: 10, ChatId: e.chatID}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, `content_type: "application/pdf" is not allowed for avatars; use image/jpeg, image/png or image/webp; chat_id: must be empty for avatars`)
	_, err = e.client.CreateUpload(ctx, as(t, e, e.alice, &mediav1.CreateUploadRequest{
		Purpose: attachment, FileName: "a.bin", ContentType: "not a type", SizeBytes: 26 << 20}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, `content_type: "not a type" is not a content type like image/png; size_bytes: 26 MiB is over the attachment limit of 25 MiB; chat_id: required for attachments`)
	_, err = e.client.CreateUpload(ctx, as(t, e, e.alice, &mediav1.CreateUploadRequest{
		Purpose: attachment, FileName: "a\x00.txt", ContentType: "text/plain", SizeBytes: 1, ChatId: e.chatID}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "file_name: must not contain control characters")
	_, err = e.client.CreateUpload(ctx, as(t, e, e.alice, &mediav1.CreateUploadRequest{
		Purpose: attachment, FileName: "r\uFFFDsum\u00e9.pdf", ContentType: "application/pdf", SizeBytes: 1, ChatId: e.chatID}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "file_name: must not contain U+FFFD, the mark of a name whose encoding was lost on the way")
	_, err = e.client.CreateUpload(ctx, as(t, e, e.alice, &mediav1.CreateUploadRequest{
		Purpose: attachment, FileName: strings.Repeat("é", 256), ContentType: "text/plain", SizeBytes: 1, ChatId: e.chatID}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "file_name: at most 255 characters")

	// Someone else's upload does not exist for you.
	id := e.create(t, e.alice, avatar, "a.png", "image/png", 10, "").GetFileId()
	_, err = e.complete(t, e.bob, id)
	rpctest.WantCode(t, err, connect.CodeNotFound, "file_id: no upload "+id+" of yours")
	_, err = e.complete(t, e.alice, "")
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "file_id: required")
}

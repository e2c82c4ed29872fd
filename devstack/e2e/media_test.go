package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // thumbnails may be JPEG
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	friendv1 "github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1"
	mediav1 "github.com/parleyhq/parley/contracts/gen/go/parley/media/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/media/v1/mediav1connect"
	profilev1 "github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1"
)

// pngOf draws a w×h picture with a gradient, so re-encoding and thumbnails have real pixels.
func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// uploadAsBrowser sends the presigned POST exactly as a browser form would: the policy's fields
// first, then the file, as multipart/form-data straight to storage (not through the gateway).
func uploadAsBrowser(t *testing.T, up *mediav1.CreateUploadResponse, name, contentType string, data []byte) *http.Response {
	t.Helper()
	var body bytes.Buffer
	form := multipart.NewWriter(&body)
	for k, v := range up.GetFormFields() {
		if err := form.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	part, err := form.CreatePart(map[string][]string{
		"Content-Disposition": {fmt.Sprintf(`form-data; name="file"; filename=%q`, name)},
		"Content-Type":        {contentType},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = part.Write(data)
	_ = form.Close()
	req, err := http.NewRequest(http.MethodPost, up.GetUploadUrl(), &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", form.FormDataContentType())
	req.Header.Set("Origin", gatewayURL) // as the web client's page would
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST the upload form to %s: %v", up.GetUploadUrl(), err)
	}
	return res
}

// testAvatarAndAttachment: an avatar uploaded as a browser does becomes the profile picture, a
// friend sees its thumbnail and can load it; a chat attachment is visible to the two participants
// only.
func testAvatarAndAttachment(t *testing.T) {
	ctx := context.Background()
	c := newClients()
	media := mediav1connect.NewMediaServiceClient(http.DefaultClient, gatewayURL+"/api")
	alice, bob, mallory := signUp(t, c, "alice"), signUp(t, c, "bob"), signUp(t, c, "mallory")
	befriend(t, c, alice, bob)

	picture := pngOf(t, 320, 200)
	up, err := media.CreateUpload(ctx, withToken(&mediav1.CreateUploadRequest{
		Purpose: mediav1.FilePurpose_FILE_PURPOSE_AVATAR, FileName: "me.png", ContentType: "image/png", SizeBytes: int64(len(picture))}, alice.token))
	if err != nil {
		t.Fatalf("create upload: %v", err)
	}
	res := uploadAsBrowser(t, up.Msg, "me.png", "image/png", picture)
	if res.StatusCode/100 != 2 {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("storage refused the upload: %d %s", res.StatusCode, b)
	}
	res.Body.Close()
	done, err := media.CompleteUpload(ctx, withToken(&mediav1.CompleteUploadRequest{FileId: up.Msg.GetFileId()}, alice.token))
	if err != nil {
		t.Fatalf("complete upload: %v", err)
	}
	if f := done.Msg.GetFile(); f.GetStatus() != mediav1.FileStatus_FILE_STATUS_READY || f.GetWidth() != 320 || f.GetThumbnail_64Url() == "" {
		t.Fatalf("completed file: %v", f)
	}

	set, err := c.profile.SetAvatar(ctx, withToken(&profilev1.SetAvatarRequest{FileId: up.Msg.GetFileId()}, alice.token))
	if err != nil {
		t.Fatalf("set avatar: %v", err)
	}
	thumb := set.Msg.GetProfile().GetAvatar().GetThumbnail_64Url()
	if thumb == "" {
		t.Fatalf("profile has no avatar thumbnail: %v", set.Msg.GetProfile())
	}

	// Bob sees it in his friend list (kept fresh from ProfileUpdated) and can load it.
	listed := eventually(t, "the avatar in bob's friend list", func() (string, error) {
		res, err := c.friend.ListFriends(ctx, withToken(&friendv1.ListFriendsRequest{}, bob.token))
		if err != nil {
			return "", err
		}
		for _, f := range res.Msg.GetFriends() {
			if f.GetUser().GetUserId() == alice.id && f.GetUser().GetAvatarThumbnailUrl() != "" {
				return f.GetUser().GetAvatarThumbnailUrl(), nil
			}
		}
		return "", fmt.Errorf("not yet: %v", res.Msg.GetFriends())
	})
	if listed != thumb {
		t.Fatalf("friend list thumbnail %q, profile says %q", listed, thumb)
	}
	img := fetchImage(t, listed)
	if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 64 {
		t.Fatalf("thumbnail is %v, want 64x64", b)
	}

	// An attachment in their chat: the participants can open it, a stranger cannot.
	first := eventually(t, "a chat", func() (*chatv1.SendMessageResponse, error) {
		return msgOf(c.chat.SendMessage(ctx, withToken(&chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_UserId{UserId: bob.id}, ClientMsgId: uuid.NewString(), Text: "a picture follows"}, alice.token)))
	}).GetMessage()
	attachment := pngOf(t, 100, 100)
	up, err = media.CreateUpload(ctx, withToken(&mediav1.CreateUploadRequest{
		Purpose: mediav1.FilePurpose_FILE_PURPOSE_ATTACHMENT, FileName: "cat.png", ContentType: "image/png", SizeBytes: int64(len(attachment)), ChatId: first.GetChatId()}, alice.token))
	if err != nil {
		t.Fatalf("create attachment upload: %v", err)
	}
	res = uploadAsBrowser(t, up.Msg, "cat.png", "image/png", attachment)
	res.Body.Close()
	if _, err := media.CompleteUpload(ctx, withToken(&mediav1.CompleteUploadRequest{FileId: up.Msg.GetFileId()}, alice.token)); err != nil {
		t.Fatalf("complete attachment: %v", err)
	}
	seen, err := media.GetFile(ctx, withToken(&mediav1.GetFileRequest{FileId: up.Msg.GetFileId()}, bob.token))
	if err != nil || seen.Msg.GetFile().GetUrl() == "" {
		t.Fatalf("bob (a participant) cannot get the attachment: %v %v", seen, err)
	}
	fetchImage(t, seen.Msg.GetFile().GetUrl())
	_, err = media.GetFile(ctx, withToken(&mediav1.GetFileRequest{FileId: up.Msg.GetFileId()}, mallory.token))
	wantCode(t, err, connect.CodeNotFound)

	// Alice sends it in the chat: Bob's listing shows its name, size and type with a thumbnail he
	// can load; Mallory sees nothing of the chat, and Bob cannot pass Alice's file off as his.
	catID := up.Msg.GetFileId()
	sent, err := c.chat.SendMessage(ctx, withToken(&chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_ChatId{ChatId: first.GetChatId()},
		ClientMsgId: uuid.NewString(), Text: "our cat", AttachmentFileIds: []string{catID}}, alice.token))
	if err != nil {
		t.Fatalf("send a message with the attachment: %v", err)
	}
	if a := sent.Msg.GetMessage().GetAttachments(); len(a) != 1 || a[0].GetFileId() != catID || a[0].GetName() != "cat.png" {
		t.Fatalf("sent attachments %v", a)
	}
	page, err := c.chat.ListMessages(ctx, withToken(&chatv1.ListMessagesRequest{ChatId: first.GetChatId(), PageSize: 1}, bob.token))
	if err != nil || len(page.Msg.GetMessages()) != 1 || page.Msg.GetMessages()[0].GetMessageId() != sent.Msg.GetMessage().GetMessageId() {
		t.Fatalf("bob's newest message: %v, %v; want alice's with the cat", page, err)
	}
	cat := page.Msg.GetMessages()[0].GetAttachments()
	if len(cat) != 1 || cat[0].GetFileId() != catID || cat[0].GetName() != "cat.png" || cat[0].GetContentType() != seen.Msg.GetFile().GetContentType() ||
		cat[0].GetSizeBytes() != seen.Msg.GetFile().GetSizeBytes() || cat[0].GetSizeBytes() == 0 || cat[0].GetThumbnailUrl() == "" || cat[0].GetUrlExpiresAt() == nil {
		t.Fatalf("the attachment in bob's listing %v; want cat.png, %d bytes, %s, with a thumbnail", cat, seen.Msg.GetFile().GetSizeBytes(), seen.Msg.GetFile().GetContentType())
	}
	if b := fetchImage(t, cat[0].GetThumbnailUrl()).Bounds(); b.Dx() != 100 || b.Dy() != 100 {
		t.Fatalf("bob's thumbnail of the 100x100 cat is %v; want it whole (thumbnails are never enlarged)", b)
	}
	_, err = c.chat.ListMessages(ctx, withToken(&chatv1.ListMessagesRequest{ChatId: first.GetChatId()}, mallory.token))
	wantCode(t, err, connect.CodeNotFound)
	_, err = c.chat.SendMessage(ctx, withToken(&chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_ChatId{ChatId: first.GetChatId()},
		ClientMsgId: uuid.NewString(), AttachmentFileIds: []string{catID}}, bob.token))
	wantCode(t, err, connect.CodeInvalidArgument)

	// An HTML page dressed as a PNG is refused with a reason a person understands.
	html := []byte("<html><script>alert(1)</script></html>")
	up, err = media.CreateUpload(ctx, withToken(&mediav1.CreateUploadRequest{
		Purpose: mediav1.FilePurpose_FILE_PURPOSE_AVATAR, FileName: "evil.png", ContentType: "image/png", SizeBytes: int64(len(html))}, alice.token))
	if err != nil {
		t.Fatal(err)
	}
	uploadAsBrowser(t, up.Msg, "evil.png", "image/png", html).Body.Close()
	_, err = media.CompleteUpload(ctx, withToken(&mediav1.CompleteUploadRequest{FileId: up.Msg.GetFileId()}, alice.token))
	wantCode(t, err, connect.CodeInvalidArgument)
}

// fetchImage GETs a media URL as an <img> tag would (no token) and decodes it.
func fetchImage(t *testing.T, url string) image.Image {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("GET %s: %d, nosniff=%q", url, res.StatusCode, res.Header.Get("X-Content-Type-Options"))
	}
	img, _, err := image.Decode(res.Body)
	if err != nil {
		t.Fatalf("GET %s (%s): not an image: %v", url, res.Header.Get("Content-Type"), err)
	}
	return img
}

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	friendv1 "github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1"
	mediav1 "github.com/parleyhq/parley/contracts/gen/go/parley/media/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/media/v1/mediav1connect"
	notificationv1 "github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1"
	profilev1 "github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1"
)

// testDeleteAccount: a person with a friend, a chat with messages and an attachment, an avatar
// and notifications deletes their account through the gateway. Their socket closes at once;
// afterwards nothing of them can be retrieved through any API — their token, profile, search, the friend's list, the chat (their
// messages are tombstones), their files' URLs — and, reading every service's database and the S3
// bucket directly, no row and no object holds their id, email or nickname except the tombstones
// docs/privacy.md lists.
func testDeleteAccount(t *testing.T) {
	ctx := context.Background()
	c := newClients()
	media := mediav1connect.NewMediaServiceClient(http.DefaultClient, gatewayURL+"/api")
	gone, bob := signUp(t, c, "gone"), signUp(t, c, "stays")
	befriend(t, c, gone, bob)
	waitNotification(t, c, gone, notificationv1.NotificationKind_NOTIFICATION_KIND_FRIEND_ACCEPTED, "")

	// An avatar, a chat with messages both ways and an attachment.
	upload := func(purpose mediav1.FilePurpose, name, chatID string, data []byte) string {
		t.Helper()
		up, err := media.CreateUpload(ctx, withToken(&mediav1.CreateUploadRequest{
			Purpose: purpose, FileName: name, ContentType: "image/png", SizeBytes: int64(len(data)), ChatId: chatID}, gone.token))
		if err != nil {
			t.Fatalf("create upload %s: %v", name, err)
		}
		res := uploadAsBrowser(t, up.Msg, name, "image/png", data)
		if res.StatusCode/100 != 2 {
			b, _ := io.ReadAll(res.Body)
			t.Fatalf("storage refused %s: %d %s", name, res.StatusCode, b)
		}
		res.Body.Close()
		if _, err := media.CompleteUpload(ctx, withToken(&mediav1.CompleteUploadRequest{FileId: up.Msg.GetFileId()}, gone.token)); err != nil {
			t.Fatalf("complete %s: %v", name, err)
		}
		return up.Msg.GetFileId()
	}
	avatarID := upload(mediav1.FilePurpose_FILE_PURPOSE_AVATAR, "me.png", "", pngOf(t, 200, 200))
	set, err := c.profile.SetAvatar(ctx, withToken(&profilev1.SetAvatarRequest{FileId: avatarID}, gone.token))
	if err != nil {
		t.Fatalf("set avatar: %v", err)
	}
	avatarURLs := []string{set.Msg.GetProfile().GetAvatar().GetThumbnail_64Url(), set.Msg.GetProfile().GetAvatar().GetUrl()}
	first := eventually(t, "a chat", func() (*chatv1.SendMessageResponse, error) {
		return msgOf(c.chat.SendMessage(ctx, withToken(&chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_UserId{UserId: bob.id},
			ClientMsgId: uuid.NewString(), Text: "my secret plans"}, gone.token)))
	}).GetMessage()
	chatID := first.GetChatId()
	if _, err := c.chat.SendMessage(ctx, withToken(&chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_ChatId{ChatId: chatID},
		ClientMsgId: uuid.NewString(), Text: "tell me more"}, bob.token)); err != nil {
		t.Fatal(err)
	}
	catID := upload(mediav1.FilePurpose_FILE_PURPOSE_ATTACHMENT, "cat.png", chatID, pngOf(t, 50, 50))
	if _, err := c.chat.SendMessage(ctx, withToken(&chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_ChatId{ChatId: chatID},
		ClientMsgId: uuid.NewString(), Text: "a picture", AttachmentFileIds: []string{catID}}, gone.token)); err != nil {
		t.Fatal(err)
	}
	cat, err := media.GetFile(ctx, withToken(&mediav1.GetFileRequest{FileId: catID}, bob.token))
	if err != nil {
		t.Fatal(err)
	}
	fileURLs := append(avatarURLs, cat.Msg.GetFile().GetUrl(), cat.Msg.GetFile().GetThumbnail_256Url())
	for _, u := range fileURLs {
		if code, err := httpStatus(u); err != nil || code != http.StatusOK {
			t.Fatalf("before deletion GET %s: %d %v", u, code, err)
		}
	}
	waitNotification(t, c, bob, notificationv1.NotificationKind_NOTIFICATION_KIND_MESSAGE, "")

	// The storage scan below sees them now, in every service (so its silence later means something).
	before, err := rowsNaming(ctx, gone)
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"auth.", "profile.", "friend.", "chat.", "notification.", "media."} {
		if !slices.ContainsFunc(before, func(h string) bool { return strings.HasPrefix(h, svc) }) {
			t.Fatalf("before deletion the scan finds nothing of theirs in %s: %v", svc, before)
		}
	}

	// A live socket of theirs: the deletion closes it (SessionRevoked, 4003).
	ws := connectWS(t, gatewayURL, gone.token, false)

	// Re-authentication is required; then the account goes.
	_, err = c.auth.DeleteAccount(ctx, withToken(&authv1.DeleteAccountRequest{Password: "wrong horse battery staple"}, gone.token))
	wantCode(t, err, connect.CodeInvalidArgument)
	if _, err := c.auth.DeleteAccount(ctx, withToken(&authv1.DeleteAccountRequest{Password: "correct horse battery staple"}, gone.token)); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}

	ws.expectClose(t, 4003)

	// Through the API: nothing of them is retrievable.
	eventually(t, "the deleted user's token refused", func() (struct{}, error) {
		_, err := c.auth.GetMe(ctx, withToken(&authv1.GetMeRequest{}, gone.token))
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			return struct{}{}, fmt.Errorf("GetMe: %w", err)
		}
		return struct{}{}, nil
	})
	_, err = c.auth.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: gone.email, Password: "correct horse battery staple"}))
	wantCode(t, err, connect.CodeUnauthenticated)
	eventually(t, "the profile gone", func() (struct{}, error) {
		_, err := c.profile.GetProfile(ctx, withToken(&profilev1.GetProfileRequest{UserId: gone.id}, bob.token))
		if connect.CodeOf(err) != connect.CodeNotFound {
			return struct{}{}, fmt.Errorf("GetProfile: %w", err)
		}
		found, err := c.profile.SearchUsers(ctx, withToken(&profilev1.SearchUsersRequest{Query: gone.nickname}, bob.token))
		if err != nil {
			return struct{}{}, err
		}
		for _, r := range found.Msg.GetResults() {
			if r.GetProfile().GetUserId() == gone.id {
				return struct{}{}, fmt.Errorf("search still finds them")
			}
		}
		return struct{}{}, nil
	})
	eventually(t, "the friendship gone", func() (struct{}, error) {
		res, err := c.friend.ListFriends(ctx, withToken(&friendv1.ListFriendsRequest{}, bob.token))
		if err != nil {
			return struct{}{}, err
		}
		for _, f := range res.Msg.GetFriends() {
			if f.GetUser().GetUserId() == gone.id {
				return struct{}{}, fmt.Errorf("still a friend")
			}
		}
		return struct{}{}, nil
	})
	eventually(t, "tombstones in bob's chat", func() (struct{}, error) {
		page, err := c.chat.ListMessages(ctx, withToken(&chatv1.ListMessagesRequest{ChatId: chatID}, bob.token))
		if err != nil {
			return struct{}{}, err
		}
		msgs := page.Msg.GetMessages()
		if len(msgs) != 3 {
			return struct{}{}, fmt.Errorf("%d messages, want 3", len(msgs))
		}
		slices.SortFunc(msgs, func(a, b *chatv1.Message) int { return int(a.GetSeq() - b.GetSeq()) })
		for i, m := range msgs {
			if m.GetSeq() != int64(i+1) {
				return struct{}{}, fmt.Errorf("seq %d at position %d: a gap", m.GetSeq(), i)
			}
			if m.GetSenderId() == gone.id && (!m.GetDeleted() || m.GetText() != "" || len(m.GetAttachments()) != 0) {
				return struct{}{}, fmt.Errorf("not a tombstone yet: %v", m)
			}
			if m.GetSenderId() == bob.id && (m.GetDeleted() || m.GetText() != "tell me more") {
				return struct{}{}, fmt.Errorf("bob's own message changed: %v", m)
			}
		}
		got, err := c.chat.GetChat(ctx, withToken(&chatv1.GetChatRequest{By: &chatv1.GetChatRequest_ChatId{ChatId: chatID}}, bob.token))
		if err != nil {
			return struct{}{}, err
		}
		if ch := got.Msg.GetChat(); !ch.GetPeer().GetDeletedAccount() || ch.GetCanSend() || ch.GetPeer().GetNickname() != "" || ch.GetPeer().GetAvatarFileId() != "" {
			return struct{}{}, fmt.Errorf("chat %v", ch)
		}
		return struct{}{}, nil
	})
	_, err = c.chat.SendMessage(ctx, withToken(&chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_ChatId{ChatId: chatID},
		ClientMsgId: uuid.NewString(), Text: "are you there?"}, bob.token))
	if err == nil {
		t.Fatal("bob could still send to the deleted account's chat")
	}
	eventually(t, "the files gone", func() (struct{}, error) {
		if _, err := media.GetFile(ctx, withToken(&mediav1.GetFileRequest{FileId: catID}, bob.token)); connect.CodeOf(err) != connect.CodeNotFound {
			return struct{}{}, fmt.Errorf("GetFile: %w", err)
		}
		for _, u := range fileURLs {
			if code, err := httpStatus(u); err != nil || (code != http.StatusNotFound && code != http.StatusForbidden) {
				return struct{}{}, fmt.Errorf("GET %s: %d %w", u, code, err)
			}
		}
		return struct{}{}, nil
	})
	eventually(t, "the notifications about them gone", func() (struct{}, error) {
		list, err := notificationsOf(ctx, c, bob)
		if err != nil {
			return struct{}{}, err
		}
		for _, n := range list {
			if n.GetActorUserId() == gone.id {
				return struct{}{}, fmt.Errorf("bob still has %v", n)
			}
		}
		return struct{}{}, nil
	})

	// In storage: no row names them (id, email or nickname) but the tombstones, and no object of
	// their files is left in the bucket (the janitor runs every JANITOR_INTERVAL, 2s here).
	eventually(t, "no row and no object of theirs", func() (struct{}, error) {
		if rows, err := rowsNaming(ctx, gone); err != nil || len(rows) > 0 {
			return struct{}{}, fmt.Errorf("rows %v (%w)", rows, err)
		}
		keys, err := stk.S3Keys(ctx)
		if err != nil {
			return struct{}{}, err
		}
		for _, k := range keys {
			if strings.Contains(k, avatarID) || strings.Contains(k, catID) {
				return struct{}{}, fmt.Errorf("object %s remains", k)
			}
		}
		return struct{}{}, nil
	})
}

// tombstoneColumns are the columns docs/privacy.md says keep a deleted user's id, by service.
var tombstoneColumns = map[string][]string{
	"auth":         {"deleted_users.id"},
	"profile":      {"deleted_users.user_id"},
	"friend":       {"deleted_users.user_id"},
	"notification": {"deleted_users.user_id"},
	"media":        {"deleted_users.user_id"},
	// The peer's history: the chat, both read cursors and the tombstones of the messages (whose
	// emptiness the API checks above show).
	"chat": {"deleted_users.user_id", "chats.user_lo", "chats.user_hi", "chat_members.user_id", "chat_members.peer_id", "messages.sender_id"},
}

// rowsNaming searches every text-like column of every table of every service's database for the
// person's id, email or nickname and returns "service.table.column" for each hit outside the
// documented tombstones. Emails already rendered for someone else (a friend-request email to the
// friend names the requester) are the other person's and documented as kept.
func rowsNaming(ctx context.Context, p person) ([]string, error) {
	var hits []string
	for _, svc := range []string{"auth", "profile", "friend", "chat", "notification", "media"} {
		conn, err := pgx.Connect(ctx, stk.ServiceDatabaseURL(svc))
		if err != nil {
			return nil, fmt.Errorf("%s database: %w", svc, err)
		}
		rows, err := conn.Query(ctx, `
			SELECT table_name, column_name FROM information_schema.columns
			WHERE table_schema = 'public' AND data_type IN ('uuid', 'text', 'character varying', 'jsonb', 'ARRAY')`)
		if err != nil {
			conn.Close(ctx)
			return nil, err
		}
		cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
			var tc [2]string
			err := r.Scan(&tc[0], &tc[1])
			return tc, err
		})
		if err != nil {
			conn.Close(ctx)
			return nil, err
		}
		for _, tc := range cols {
			name := tc[0] + "." + tc[1]
			if slices.Contains(tombstoneColumns[svc], name) {
				continue
			}
			var n int
			err := conn.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s::text LIKE '%%' || $1 || '%%' OR %s::text LIKE '%%' || $2 || '%%'`,
				pgx.Identifier{tc[0]}.Sanitize(), pgx.Identifier{tc[1]}.Sanitize(), pgx.Identifier{tc[1]}.Sanitize()), p.id, p.nickname).Scan(&n)
			if err != nil {
				conn.Close(ctx)
				return nil, fmt.Errorf("%s.%s: %w", svc, name, err)
			}
			if n == 0 {
				continue
			}
			if svc == "notification" && tc[0] == "email_deliveries" {
				// Only the friend's rendered emails may name them; none may be addressed to them.
				var theirs int
				if err := conn.QueryRow(ctx, `SELECT count(*) FROM email_deliveries WHERE user_id::text = $1 OR to_address = $2`, p.id, p.email).Scan(&theirs); err != nil {
					conn.Close(ctx)
					return nil, err
				}
				if theirs == 0 {
					continue
				}
			}
			hits = append(hits, fmt.Sprintf("%s.%s (%d)", svc, name, n))
		}
		conn.Close(ctx)
	}
	return hits, nil
}

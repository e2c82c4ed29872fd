package chatrpc_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	"github.com/parleyhq/parley/platform/rpctest"
	"github.com/parleyhq/parley/services/chat/internal/chat"
	"github.com/parleyhq/parley/services/chat/internal/chatdb"
)

func sendTo(to user, text string) *chatv1.SendMessageRequest {
	return &chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_UserId{UserId: to.id}, ClientMsgId: uuid.NewString(), Text: text}
}

func sendIn(chatID, text string) *chatv1.SendMessageRequest {
	return &chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_ChatId{ChatId: chatID}, ClientMsgId: uuid.NewString(), Text: text}
}

func seqs(ms []*chatv1.Message) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.GetSeq()
	}
	return out
}

func TestFirstSendToAFriendCreatesTheChat(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, bob := e.newUser(t), e.newUser(t)
	e.friend.set(alice, bob, true) // friends, but FriendAccepted has not arrived: no chat yet

	res, err := e.client.SendMessage(ctx, as(alice, sendTo(bob, "  hi bob  ")))
	if err != nil {
		t.Fatal(err)
	}
	m := res.Msg.GetMessage()
	chatID := chat.ChatID(alice.id, bob.id)
	if m.GetChatId() != chatID || m.GetSeq() != 1 || m.GetText() != "hi bob" || m.GetSenderId() != alice.id || res.Msg.GetDuplicate() || m.GetSentAt() == nil {
		t.Fatalf("first message %v", res.Msg)
	}
	if got := e.friend.callers(); !slices.Equal(got, []string{alice.id}) {
		t.Fatalf("friend service asked by %v; want once, with alice's forwarded token", got)
	}
	// The chat exists now: further sends, by user or chat id, ask nobody.
	if _, err := e.client.SendMessage(ctx, as(alice, sendTo(bob, "two"))); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.SendMessage(ctx, as(bob, sendIn(chatID, "three"))); err != nil {
		t.Fatal(err)
	}
	if n := len(e.friend.callers()); n != 1 {
		t.Fatalf("friend service asked %d times; want 1 (the chat's can_send decides once it exists)", n)
	}

	// Bob's view: the chat with alice, her two messages unread, his own last.
	list, err := e.client.ListChats(ctx, as(bob, &chatv1.ListChatsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Msg.GetChats()) != 1 {
		t.Fatalf("bob's chats %v", list.Msg)
	}
	c := list.Msg.GetChats()[0]
	if c.GetChatId() != chatID || c.GetPeer().GetUserId() != alice.id || c.GetUnreadCount() != 2 || c.GetLastSeq() != 3 ||
		c.GetLastMessage().GetText() != "three" || !c.GetCanSend() || c.GetReadSeq() != 0 ||
		!c.GetLastActivityAt().AsTime().Equal(c.GetLastMessage().GetSentAt().AsTime()) {
		t.Fatalf("bob's chat %v", c)
	}
	read, err := e.client.MarkRead(ctx, as(bob, &chatv1.MarkReadRequest{ChatId: chatID, UpToSeq: 99}))
	if err != nil || read.Msg.GetReadSeq() != 3 || read.Msg.GetUnreadCount() != 0 {
		t.Fatalf("MarkRead beyond the end: %v, %v; want read_seq clamped to 3, unread 0", read.Msg, err)
	}
	read, err = e.client.MarkRead(ctx, as(bob, &chatv1.MarkReadRequest{ChatId: chatID, UpToSeq: 1}))
	if err != nil || read.Msg.GetReadSeq() != 3 {
		t.Fatalf("MarkRead backwards: %v, %v; want the cursor to stay at 3", read.Msg, err)
	}
	got, err := e.client.GetChat(ctx, as(alice, &chatv1.GetChatRequest{By: &chatv1.GetChatRequest_UserId{UserId: bob.id}}))
	if err != nil || got.Msg.GetChat().GetPeerReadSeq() != 3 || got.Msg.GetChat().GetUnreadCount() != 1 || got.Msg.GetChat().GetChatId() != chatID {
		t.Fatalf("alice's GetChat by user: %v, %v; want peer_read_seq 3 and bob's message unread", got.Msg, err)
	}
}

func TestListMessagesPagesBothWays(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, bob, chatID := e.friends(t)
	for i := range 5 {
		if _, err := e.client.SendMessage(ctx, as([]user{alice, bob}[i%2], sendIn(chatID, "m"))); err != nil {
			t.Fatal(err)
		}
	}

	var walked []int64
	req := &chatv1.ListMessagesRequest{ChatId: chatID, PageSize: 2}
	for range 10 {
		page, err := e.client.ListMessages(ctx, as(bob, req))
		if err != nil {
			t.Fatal(err)
		}
		walked = append(walked, seqs(page.Msg.GetMessages())...)
		if page.Msg.GetNextPageToken() == "" {
			break
		}
		req.PageToken = page.Msg.GetNextPageToken()
	}
	if !slices.Equal(walked, []int64{5, 4, 3, 2, 1}) {
		t.Fatalf("newest-first walk %v; want 5..1", walked)
	}

	page, err := e.client.ListMessages(ctx, as(alice, &chatv1.ListMessagesRequest{ChatId: chatID, Direction: chatv1.PageDirection_PAGE_DIRECTION_NEWER, FromSeq: 2, PageSize: 2}))
	if err != nil || !slices.Equal(seqs(page.Msg.GetMessages()), []int64{3, 4}) || page.Msg.GetNextPageToken() == "" {
		t.Fatalf("NEWER from 2: %v, %v; want 3, 4 and a token", page.Msg, err)
	}
	next, err := e.client.ListMessages(ctx, as(alice, &chatv1.ListMessagesRequest{ChatId: chatID, Direction: chatv1.PageDirection_PAGE_DIRECTION_NEWER, PageToken: page.Msg.GetNextPageToken()}))
	if err != nil || !slices.Equal(seqs(next.Msg.GetMessages()), []int64{5}) || next.Msg.GetNextPageToken() != "" {
		t.Fatalf("NEWER next page: %v, %v; want 5 and no token", next.Msg, err)
	}
	older, err := e.client.ListMessages(ctx, as(alice, &chatv1.ListMessagesRequest{ChatId: chatID, FromSeq: 3}))
	if err != nil || !slices.Equal(seqs(older.Msg.GetMessages()), []int64{2, 1}) {
		t.Fatalf("OLDER from 3: %v, %v; want 2, 1", older.Msg, err)
	}

	// A token belongs to its chat and direction.
	_, err = e.client.ListMessages(ctx, as(alice, &chatv1.ListMessagesRequest{ChatId: chatID, PageToken: page.Msg.GetNextPageToken()}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "page_token: belongs to the other direction")
	otherChat := chat.ChatID(alice.id, uuid.NewString())
	_, err = e.client.ListMessages(ctx, as(alice, &chatv1.ListMessagesRequest{ChatId: chatID, PageToken: chat.MessagesToken(otherChat, chat.Older, 3)}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "page_token: belongs to another chat")
	_, err = e.client.ListMessages(ctx, as(alice, &chatv1.ListMessagesRequest{ChatId: chatID, PageToken: chat.ChatsToken(chat.ChatCursor{ChatID: chatID})}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "page_token: not a token of this method")
	_, err = e.client.ListMessages(ctx, as(alice, &chatv1.ListMessagesRequest{ChatId: chatID, PageToken: "garbage!"}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "page_token: malformed")
	_, err = e.client.ListMessages(ctx, as(alice, &chatv1.ListMessagesRequest{ChatId: chatID, PageSize: 101}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "page_size: must be 1 to 100")
	_, err = e.client.ListMessages(ctx, as(alice, &chatv1.ListMessagesRequest{ChatId: chatID, FromSeq: -1}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "from_seq")
}

func TestListChatsOrderAndPaging(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	me := e.newUser(t)
	friends := []user{e.newUser(t), e.newUser(t), e.newUser(t)}
	for _, f := range friends {
		e.setFriends(t, me, f, true)
	}
	// Activity: friends[1] (no message: creation time), then friends[0], then friends[2] last.
	for _, f := range []user{friends[0], friends[2]} {
		if _, err := e.client.SendMessage(ctx, as(f, sendTo(me, "hello from "+f.id[:4]))); err != nil {
			t.Fatal(err)
		}
	}
	var order []string
	req := &chatv1.ListChatsRequest{PageSize: 2}
	for range 5 {
		page, err := e.client.ListChats(ctx, as(me, req))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Msg.GetChats() {
			order = append(order, c.GetPeer().GetUserId())
		}
		if page.Msg.GetNextPageToken() == "" {
			break
		}
		req.PageToken = page.Msg.GetNextPageToken()
	}
	if want := []string{friends[2].id, friends[0].id, friends[1].id}; !slices.Equal(order, want) {
		t.Fatalf("chat order %v; want %v (most recent activity first)", order, want)
	}
	_, err := e.client.ListChats(ctx, as(me, &chatv1.ListChatsRequest{PageToken: chat.MessagesToken(chat.ChatID(me.id, friends[0].id), chat.Older, 1)}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "page_token: not a token of this method")
	_, err = e.client.ListChats(ctx, as(me, &chatv1.ListChatsRequest{PageSize: -1}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "page_size")
}

// A send to a friend whose account was deleted before the friend service (or the friendship
// cache) learnt of it makes no chat and is refused as a send to a stranger, not as an internal
// error: with text, and with an attachment.
func TestSendToAFriendWhoseAccountWasDeletedIsRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, bob := e.newUser(t), e.newUser(t)
	e.friend.set(alice, bob, true)
	if _, err := e.pool.Exec(ctx, `INSERT INTO deleted_users (user_id, deleted_at) VALUES ($1, now())`, bob.id); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.SendMessage(ctx, as(alice, sendTo(bob, "still there?")))
	rpctest.WantCode(t, err, connect.CodeFailedPrecondition, "you can send messages only to your friends")
	file := e.media.attachment(alice, chat.ChatID(alice.id, bob.id), "hello.txt", "text/plain; charset=utf-8", 6)
	_, err = e.client.SendMessage(ctx, as(alice, withAttachments(sendTo(bob, ""), file)))
	rpctest.WantCode(t, err, connect.CodeFailedPrecondition, "you can send messages only to your friends")
	var chats, msgs int
	if err := e.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM chats), (SELECT count(*) FROM messages)`).Scan(&chats, &msgs); err != nil || chats != 0 || msgs != 0 {
		t.Fatalf("%d chats, %d messages (%v); want none", chats, msgs, err)
	}
}

func TestStrangerIsRefusedEverywhere(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, bob, eve := e.newUser(t), e.newUser(t), e.newUser(t)
	e.setFriends(t, alice, bob, true)
	chatID := chat.ChatID(alice.id, bob.id)
	sent, err := e.client.SendMessage(ctx, as(alice, sendIn(chatID, "private")))
	if err != nil {
		t.Fatal(err)
	}
	msgID := sent.Msg.GetMessage().GetMessageId()
	const notFound = "no such"

	_, err = e.client.SendMessage(ctx, as(eve, sendIn(chatID, "hi")))
	rpctest.WantCode(t, err, connect.CodeNotFound, "chat_id: no such chat of yours")
	_, err = e.client.SendMessage(ctx, as(eve, sendTo(alice, "hi"))) // not friends, per the friend service
	rpctest.WantCode(t, err, connect.CodeFailedPrecondition, "only to your friends")
	_, err = e.client.ListMessages(ctx, as(eve, &chatv1.ListMessagesRequest{ChatId: chatID}))
	rpctest.WantCode(t, err, connect.CodeNotFound, notFound)
	_, err = e.client.MarkRead(ctx, as(eve, &chatv1.MarkReadRequest{ChatId: chatID, UpToSeq: 1}))
	rpctest.WantCode(t, err, connect.CodeNotFound, notFound)
	_, err = e.client.EditMessage(ctx, as(eve, &chatv1.EditMessageRequest{ChatId: chatID, MessageId: msgID, Text: "mine now"}))
	rpctest.WantCode(t, err, connect.CodeNotFound, notFound)
	_, err = e.client.DeleteMessage(ctx, as(eve, &chatv1.DeleteMessageRequest{ChatId: chatID, MessageId: msgID}))
	rpctest.WantCode(t, err, connect.CodeNotFound, notFound)
	_, err = e.client.GetChat(ctx, as(eve, &chatv1.GetChatRequest{By: &chatv1.GetChatRequest_ChatId{ChatId: chatID}}))
	rpctest.WantCode(t, err, connect.CodeNotFound, notFound)
	_, err = e.client.GetChat(ctx, as(eve, &chatv1.GetChatRequest{By: &chatv1.GetChatRequest_UserId{UserId: alice.id}}))
	rpctest.WantCode(t, err, connect.CodeNotFound, "no chat with that user")
	list, err := e.client.ListChats(ctx, as(eve, &chatv1.ListChatsRequest{}))
	if err != nil || len(list.Msg.GetChats()) != 0 {
		t.Fatalf("eve's chats %v, %v; want none", list.Msg, err)
	}
	access, err := e.client.CheckChatAccess(ctx, as(eve, &chatv1.CheckChatAccessRequest{ChatId: chatID, UserId: eve.id}))
	if err != nil || access.Msg.GetIsParticipant() || access.Msg.GetCanSend() {
		t.Fatalf("CheckChatAccess for eve: %v, %v; want not a participant", access.Msg, err)
	}
	_, err = e.client.CheckChatAccess(ctx, as(eve, &chatv1.CheckChatAccessRequest{ChatId: chatID, UserId: alice.id}))
	rpctest.WantCode(t, err, connect.CodePermissionDenied, "user_id")
	// Nothing of eve's happened.
	var msgs, read int
	if err := e.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM chat_members WHERE read_seq > 0)`).Scan(&msgs, &read); err != nil || msgs != 1 || read != 0 {
		t.Fatalf("%d messages, %d moved cursors after eve's attempts (%v); want 1, 0", msgs, read, err)
	}

	// The peer sees the chat but cannot change the author's message.
	_, err = e.client.EditMessage(ctx, as(bob, &chatv1.EditMessageRequest{ChatId: chatID, MessageId: msgID, Text: "edited by bob"}))
	rpctest.WantCode(t, err, connect.CodePermissionDenied, "only its author")
	_, err = e.client.DeleteMessage(ctx, as(bob, &chatv1.DeleteMessageRequest{ChatId: chatID, MessageId: msgID}))
	rpctest.WantCode(t, err, connect.CodePermissionDenied, "only its author")
	access, err = e.client.CheckChatAccess(ctx, as(bob, &chatv1.CheckChatAccessRequest{ChatId: chatID, UserId: bob.id}))
	if err != nil || !access.Msg.GetIsParticipant() || !access.Msg.GetCanSend() {
		t.Fatalf("CheckChatAccess for bob: %v, %v", access.Msg, err)
	}

	// Without a token nothing answers.
	_, err = e.client.ListChats(ctx, connect.NewRequest(&chatv1.ListChatsRequest{}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "access token")
}

func TestAfterFriendRemovedHistoryStaysButSendingStops(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, bob, chatID := e.friends(t)
	first, err := e.client.SendMessage(ctx, as(alice, sendIn(chatID, "before")))
	if err != nil {
		t.Fatal(err)
	}
	msgID := first.Msg.GetMessage().GetMessageId()

	e.setFriends(t, bob, alice, false) // FriendRemoved (removed or blocked)
	e.friend.set(alice, bob, true)     // even a stale friend service answer must not reopen it

	_, err = e.client.SendMessage(ctx, as(alice, sendIn(chatID, "after")))
	rpctest.WantCode(t, err, connect.CodeFailedPrecondition, "only to your friends")
	_, err = e.client.SendMessage(ctx, as(bob, sendTo(alice, "after")))
	rpctest.WantCode(t, err, connect.CodeFailedPrecondition, "only to your friends")
	_, err = e.client.EditMessage(ctx, as(alice, &chatv1.EditMessageRequest{ChatId: chatID, MessageId: msgID, Text: "rewritten"}))
	rpctest.WantCode(t, err, connect.CodeFailedPrecondition, "")
	if n := len(e.friend.callers()); n != 0 {
		t.Fatalf("friend service asked %d times; want 0: the chat's can_send decides", n)
	}

	page, err := e.client.ListMessages(ctx, as(bob, &chatv1.ListMessagesRequest{ChatId: chatID}))
	if err != nil || len(page.Msg.GetMessages()) != 1 || page.Msg.GetMessages()[0].GetText() != "before" {
		t.Fatalf("history after removal: %v, %v", page.Msg, err)
	}
	got, err := e.client.GetChat(ctx, as(alice, &chatv1.GetChatRequest{By: &chatv1.GetChatRequest_ChatId{ChatId: chatID}}))
	if err != nil || got.Msg.GetChat().GetCanSend() || got.Msg.GetChat().GetLastSeq() != 1 {
		t.Fatalf("chat after removal: %v, %v; want can_send false, last_seq 1", got.Msg, err)
	}
	// Deleting one's own message still works.
	del, err := e.client.DeleteMessage(ctx, as(alice, &chatv1.DeleteMessageRequest{ChatId: chatID, MessageId: msgID}))
	if err != nil || !del.Msg.GetMessage().GetDeleted() {
		t.Fatalf("delete after removal: %v, %v", del.Msg, err)
	}
}

func TestFriendServiceDownMeansUnavailable(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, bob := e.newUser(t), e.newUser(t)
	e.friend.set(alice, bob, true)
	e.friend.setDown(true)
	_, err := e.client.SendMessage(ctx, as(alice, sendTo(bob, "hello?")))
	rpctest.WantCode(t, err, connect.CodeUnavailable, "friend service cannot be reached")
	var chats int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM chats`).Scan(&chats); err != nil || chats != 0 {
		t.Fatalf("%d chats after a failed friendship check (%v); want 0", chats, err)
	}
	// The failure is not cached: once the service answers, the send goes through.
	e.friend.setDown(false)
	if _, err := e.client.SendMessage(ctx, as(alice, sendTo(bob, "hello"))); err != nil {
		t.Fatal(err)
	}
}

func TestFriendshipAnswersAreCachedUntilInvalidated(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, bob := e.newUser(t), e.newUser(t)
	_, err := e.client.SendMessage(ctx, as(alice, sendTo(bob, "hi")))
	rpctest.WantCode(t, err, connect.CodeFailedPrecondition, "only to your friends")
	_, err = e.client.SendMessage(ctx, as(bob, sendTo(alice, "hi")))
	rpctest.WantCode(t, err, connect.CodeFailedPrecondition, "only to your friends")
	if n := len(e.friend.callers()); n != 1 {
		t.Fatalf("friend service asked %d times; want 1 (the pair's answer is cached, whoever asks)", n)
	}
	e.friend.set(alice, bob, true)
	if err := e.cache.Invalidate(ctx, bob.id, alice.id); err != nil { // what the friend event handlers do
		t.Fatal(err)
	}
	if _, err := e.client.SendMessage(ctx, as(alice, sendTo(bob, "now?"))); err != nil {
		t.Fatalf("send after invalidation: %v", err)
	}
}

func TestSendValidationAndIdempotency(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, _, chatID := e.friends(t)

	cases := []struct {
		name string
		req  *chatv1.SendMessageRequest
		want string
	}{
		{"no destination", &chatv1.SendMessageRequest{ClientMsgId: uuid.NewString(), Text: "x"}, "to: set user_id"},
		{"bad chat id", &chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_ChatId{ChatId: "42"}, ClientMsgId: uuid.NewString(), Text: "x"}, "chat_id: must be a UUID"},
		{"to oneself", sendTo(alice, "me"), "user_id: you cannot send messages to yourself"},
		{"no client_msg_id", &chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_ChatId{ChatId: chatID}, Text: "x"}, "client_msg_id: required"},
		{"blank text", sendIn(chatID, " \n\t "), "text: required"},
		{"too long", sendIn(chatID, strings.Repeat("я", chat.MaxTextLen+1)), "text: at most 4000 characters, got 4001"},
		{"NUL", sendIn(chatID, "a\x00b"), "text: must not contain NUL"},
		{"too many files", withFiles(sendIn(chatID, "x"), 11), "attachment_file_ids: at most 10"},
		{"bad file id", withIDs(sendIn(chatID, "x"), uuid.NewString(), "nope"), "attachment_file_ids[1]: must be a UUID"},
		{"repeated file", withIDs(sendIn(chatID, "x"), "0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01", "0B5E1C1E-8A1F-4C47-9D3E-2F6A1B7C9D01"), "attachment_file_ids[1]: repeats attachment_file_ids[0]"},
	}
	for _, c := range cases {
		_, err := e.client.SendMessage(ctx, as(alice, c.req))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want InvalidArgument containing %q", c.name, err, c.want)
		}
	}

	// 4000 characters of several bytes each fit; a message of attachments alone needs no text.
	long, err := e.client.SendMessage(ctx, as(alice, sendIn(chatID, strings.Repeat("я", chat.MaxTextLen))))
	if err != nil || len([]rune(long.Msg.GetMessage().GetText())) != chat.MaxTextLen {
		t.Fatalf("4000-character message: %v", err)
	}
	files := withIDs(sendIn(chatID, ""), e.media.attachment(alice, chatID, "a.txt", "text/plain", 1), e.media.attachment(alice, chatID, "b.txt", "text/plain", 2))
	withFile, err := e.client.SendMessage(ctx, as(alice, files))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range withFile.Msg.GetMessage().GetAttachments() {
		ids = append(ids, a.GetFileId())
	}
	if !slices.Equal(ids, files.GetAttachmentFileIds()) || withFile.Msg.GetMessage().GetText() != "" {
		t.Fatalf("attachments %v; want %v in order", ids, files.GetAttachmentFileIds())
	}

	// The same client_msg_id again returns the first message, whatever the text.
	first := sendIn(chatID, "original")
	r1, err := e.client.SendMessage(ctx, as(alice, first))
	if err != nil {
		t.Fatal(err)
	}
	first.Text = "changed my mind"
	r2, err := e.client.SendMessage(ctx, as(alice, first))
	if err != nil || !r2.Msg.GetDuplicate() || r2.Msg.GetMessage().GetMessageId() != r1.Msg.GetMessage().GetMessageId() ||
		r2.Msg.GetMessage().GetText() != "original" || r2.Msg.GetMessage().GetSeq() != r1.Msg.GetMessage().GetSeq() {
		t.Fatalf("repeat: %v, %v; want the first message, duplicate", r2.Msg, err)
	}
	var n int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE client_msg_id = $1`, first.GetClientMsgId()).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d messages stored for one client_msg_id (%v)", n, err)
	}
}

func withFiles(req *chatv1.SendMessageRequest, n int) *chatv1.SendMessageRequest {
	for range n {
		req.AttachmentFileIds = append(req.AttachmentFileIds, uuid.NewString())
	}
	return req
}

func withIDs(req *chatv1.SendMessageRequest, ids ...string) *chatv1.SendMessageRequest {
	req.AttachmentFileIds = ids
	return req
}

func TestEditAndDelete(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, bob, chatID := e.friends(t)
	sent, err := e.client.SendMessage(ctx, as(alice, sendIn(chatID, "helo")))
	if err != nil {
		t.Fatal(err)
	}
	msgID := sent.Msg.GetMessage().GetMessageId()

	edited, err := e.client.EditMessage(ctx, as(alice, &chatv1.EditMessageRequest{ChatId: chatID, MessageId: msgID, Text: " hello "}))
	if err != nil || edited.Msg.GetMessage().GetText() != "hello" || edited.Msg.GetMessage().GetEditedAt() == nil {
		t.Fatalf("edit: %v, %v", edited.Msg, err)
	}
	same, err := e.client.EditMessage(ctx, as(alice, &chatv1.EditMessageRequest{ChatId: chatID, MessageId: msgID, Text: "hello"}))
	if err != nil || !same.Msg.GetMessage().GetEditedAt().AsTime().Equal(edited.Msg.GetMessage().GetEditedAt().AsTime()) {
		t.Fatalf("same text again: %v, %v; want nothing changed", same.Msg, err)
	}
	_, err = e.client.EditMessage(ctx, as(alice, &chatv1.EditMessageRequest{ChatId: chatID, MessageId: msgID, Text: ""}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "text: required")
	_, err = e.client.EditMessage(ctx, as(alice, &chatv1.EditMessageRequest{ChatId: chatID, MessageId: uuid.NewString(), Text: "x"}))
	rpctest.WantCode(t, err, connect.CodeNotFound, "message_id")

	del, err := e.client.DeleteMessage(ctx, as(alice, &chatv1.DeleteMessageRequest{ChatId: chatID, MessageId: msgID}))
	m := del.Msg.GetMessage()
	if err != nil || !m.GetDeleted() || m.GetText() != "" || m.GetDeletedAt() == nil || m.GetSeq() != 1 {
		t.Fatalf("delete: %v, %v", del.Msg, err)
	}
	again, err := e.client.DeleteMessage(ctx, as(alice, &chatv1.DeleteMessageRequest{ChatId: chatID, MessageId: msgID}))
	if err != nil || !again.Msg.GetMessage().GetDeletedAt().AsTime().Equal(m.GetDeletedAt().AsTime()) {
		t.Fatalf("delete again: %v, %v; want the same tombstone", again.Msg, err)
	}
	_, err = e.client.EditMessage(ctx, as(alice, &chatv1.EditMessageRequest{ChatId: chatID, MessageId: msgID, Text: "back"}))
	rpctest.WantCode(t, err, connect.CodeFailedPrecondition, "deleted")

	// The tombstone keeps its place and does not count as unread.
	page, err := e.client.ListMessages(ctx, as(bob, &chatv1.ListMessagesRequest{ChatId: chatID}))
	if err != nil || len(page.Msg.GetMessages()) != 1 || !page.Msg.GetMessages()[0].GetDeleted() {
		t.Fatalf("list after delete: %v, %v", page.Msg, err)
	}
	got, err := e.client.GetChat(ctx, as(bob, &chatv1.GetChatRequest{By: &chatv1.GetChatRequest_ChatId{ChatId: chatID}}))
	if err != nil || got.Msg.GetChat().GetUnreadCount() != 0 || !got.Msg.GetChat().GetLastMessage().GetDeleted() {
		t.Fatalf("bob's chat after delete: %v, %v; want unread 0, last message a tombstone", got.Msg, err)
	}
	_, err = e.client.MarkRead(ctx, as(bob, &chatv1.MarkReadRequest{ChatId: chatID, UpToSeq: -1}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "up_to_seq")
}

// The peer's avatar thumbnail URL is the one ProfileUpdated carried (the media service's, via the
// profile service), passed on as it is — here in a scheme the chat service could not derive from
// the file id — in GetChat and ListChats alike.
func TestPeerAvatarThumbnailIsTheURLProfileUpdatedCarried(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	me, peer := e.newUser(t), e.newUser(t)
	e.setFriends(t, me, peer, true)
	upsert := func(p chatdb.PeerProfile) {
		t.Helper()
		if err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
			_, err := e.store.UpsertPeer(ctx, tx, p)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	peerOf := func() (got, listed *chatv1.ChatPeer) {
		t.Helper()
		res, err := e.client.GetChat(ctx, as(me, &chatv1.GetChatRequest{By: &chatv1.GetChatRequest_UserId{UserId: peer.id}}))
		if err != nil {
			t.Fatal(err)
		}
		list, err := e.client.ListChats(ctx, as(me, &chatv1.ListChatsRequest{}))
		if err != nil || len(list.Msg.GetChats()) != 1 {
			t.Fatalf("ListChats = %v, %v; want the one chat", list, err)
		}
		return res.Msg.GetChat().GetPeer(), list.Msg.GetChats()[0].GetPeer()
	}

	avatar := uuid.NewString()
	thumb := "https://media.example/avatars/" + avatar + "/64?v=2"
	upsert(chatdb.PeerProfile{UserID: peer.id, Nickname: "pia", AvatarFileID: avatar, AvatarThumbnailURL: thumb, Version: 1, UpdatedAt: time.Now()})
	got, listed := peerOf()
	for _, p := range []*chatv1.ChatPeer{got, listed} {
		if p.GetNickname() != "pia" || p.GetAvatarFileId() != avatar || p.GetAvatarThumbnailUrl() != thumb {
			t.Fatalf("peer = %v; want avatar %s with thumbnail URL %s", p, avatar, thumb)
		}
	}

	// The avatar removed (a newer version): neither id nor URL.
	upsert(chatdb.PeerProfile{UserID: peer.id, Nickname: "pia", Version: 2, UpdatedAt: time.Now()})
	if got, listed = peerOf(); got.GetAvatarFileId() != "" || got.GetAvatarThumbnailUrl() != "" || listed.GetAvatarThumbnailUrl() != "" {
		t.Fatalf("peer after the avatar was removed = %v / %v; want no avatar", got, listed)
	}
}

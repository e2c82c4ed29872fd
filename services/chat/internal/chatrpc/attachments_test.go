package chatrpc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	mediav1 "github.com/parleyhq/parley/contracts/gen/go/parley/media/v1"
	"github.com/parleyhq/parley/platform/rpctest"
	"github.com/parleyhq/parley/services/chat/internal/chat"
)

// storedCounts returns how many messages the database holds and the chat's last_seq.
func (e *env) storedCounts(t *testing.T, chatID string) (messages, lastSeq int64) {
	t.Helper()
	err := e.pool.QueryRow(context.Background(),
		`SELECT (SELECT count(*) FROM messages), coalesce((SELECT last_seq FROM chats WHERE chat_id = $1), 0)`, chatID).Scan(&messages, &lastSeq)
	if err != nil {
		t.Fatal(err)
	}
	return messages, lastSeq
}

// messagesSent returns the MessageSent events in the outbox, in publishing order.
func (e *env) messagesSent(t *testing.T) []*eventsv1.MessageSent {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT payload FROM outbox WHERE ce_type = 'parley.events.v1.MessageSent' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []*eventsv1.MessageSent
	for rows.Next() {
		var payload []byte
		if err := rows.Scan(&payload); err != nil {
			t.Fatal(err)
		}
		ev := new(eventsv1.MessageSent)
		if err := proto.Unmarshal(payload, ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func withAttachments(req *chatv1.SendMessageRequest, ids ...string) *chatv1.SendMessageRequest {
	req.AttachmentFileIds = ids
	return req
}

// Every attachment must be the sender's own READY attachment uploaded for this chat, as the media
// service tells the sender; anything else is InvalidArgument naming the attachment, and nothing is
// stored.
func TestSendRefusesAttachmentsThatAreNotTheSendersReadyFilesOfThisChat(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, bob, carol := e.newUser(t), e.newUser(t), e.newUser(t)
	e.setFriends(t, alice, bob, true)
	e.setFriends(t, alice, carol, true)
	e.setFriends(t, bob, carol, true)
	chatID := chat.ChatID(alice.id, bob.id)
	good := e.media.attachment(alice, chatID, "cat.png", "image/png", 2048)

	attach := func(owner user, purpose mediav1.FilePurpose, status mediav1.FileStatus, chatID string) string {
		return e.media.add(fileSpec{owner: owner, purpose: purpose, status: status, chatID: chatID, name: "f.bin", typ: "application/octet-stream", size: 10})
	}
	const (
		attachment = mediav1.FilePurpose_FILE_PURPOSE_ATTACHMENT
		ready      = mediav1.FileStatus_FILE_STATUS_READY
	)
	cases := []struct {
		name, file, want string
	}{
		{"wrong owner: bob's file in this chat", attach(bob, attachment, ready, chatID),
			"attachment_file_ids[1]: the file is not yours"},
		{"wrong purpose: alice's avatar", attach(alice, mediav1.FilePurpose_FILE_PURPOSE_AVATAR, ready, ""),
			"attachment_file_ids[1]: the file was uploaded as FILE_PURPOSE_AVATAR, not as an attachment"},
		{"not ready: upload not completed", attach(alice, attachment, mediav1.FileStatus_FILE_STATUS_PENDING, chatID),
			"attachment_file_ids[1]: the file is not ready (FILE_STATUS_PENDING)"},
		{"rejected upload", attach(alice, attachment, mediav1.FileStatus_FILE_STATUS_REJECTED, chatID),
			"attachment_file_ids[1]: the upload was rejected"},
		{"other chat: alice's file for her chat with carol", attach(alice, attachment, ready, chat.ChatID(alice.id, carol.id)),
			"attachment_file_ids[1]: the file was uploaded for another chat"},
		{"unknown id", uuid.NewString(),
			"attachment_file_ids[1]: no such file of yours"},
		{"someone else's file alice may not see", attach(bob, attachment, ready, chat.ChatID(bob.id, carol.id)),
			"attachment_file_ids[1]: no such file of yours"},
	}
	for _, c := range cases {
		_, err := e.client.SendMessage(ctx, as(alice, withAttachments(sendIn(chatID, "look"), good, c.file)))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want InvalidArgument containing %q", c.name, err, c.want)
		}
	}
	if n, seq := e.storedCounts(t, chatID); n != 0 || seq != 0 {
		t.Fatalf("%d messages stored, last_seq %d after refused sends; want nothing stored, no seq spent", n, seq)
	}

	// Every bad attachment is named at once.
	all := []string{cases[0].file, cases[1].file, cases[2].file, cases[4].file, cases[5].file}
	_, err := e.client.SendMessage(ctx, as(alice, withAttachments(sendIn(chatID, ""), all...)))
	for i := range all {
		if !strings.Contains(err.Error(), fmt.Sprintf("attachment_file_ids[%d]: ", i)) {
			t.Errorf("all bad at once: %v; want attachment_file_ids[%d] named", err, i)
		}
	}

	// Every check asked the media service as alice (her token forwarded), never with the internal
	// token (which would show files she may not see).
	calls := e.media.callLog()
	if len(calls) != len(cases)+1 {
		t.Fatalf("%d media calls; want one per send (%d)", len(calls), len(cases)+1)
	}
	for _, c := range calls {
		if c.user != alice.id || c.internal {
			t.Fatalf("media asked as %q (internal token %v); want alice's forwarded token only", c.user, c.internal)
		}
	}

	// The chat is decided before the files: a stranger is NotFound and the media service is not asked.
	eve := e.newUser(t)
	_, err = e.client.SendMessage(ctx, as(eve, withAttachments(sendIn(chatID, "x"), good)))
	rpctest.WantCode(t, err, connect.CodeNotFound, "chat_id: no such chat of yours")
	e.setFriends(t, alice, bob, false)
	_, err = e.client.SendMessage(ctx, as(alice, withAttachments(sendIn(chatID, "x"), good)))
	rpctest.WantCode(t, err, connect.CodeFailedPrecondition, "only to your friends")
	if n := len(e.media.callLog()); n != len(calls) {
		t.Fatalf("media asked %d more times for sends refused by the chat; want 0", n-len(calls))
	}
}

// A message with attachments stores their metadata, publishes it in MessageSent, returns it with
// URLs, and readers get fresh URLs through their own token; a retry asks the media service nothing.
func TestAttachmentsAreStoredPublishedAndListedWithURLs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, bob, chatID := e.friends(t)
	photo := e.media.attachment(alice, chatID, "cat.png", "image/png", 2048)
	doc := e.media.attachment(alice, chatID, "notes.pdf", "application/pdf", 5000)

	req := withAttachments(sendIn(chatID, ""), strings.ToUpper(photo), doc) // ids in any case
	sent, err := e.client.SendMessage(ctx, as(alice, req))
	if err != nil {
		t.Fatal(err)
	}
	got := sent.Msg.GetMessage().GetAttachments()
	if len(got) != 2 {
		t.Fatalf("attachments %v; want 2", got)
	}
	p, d := got[0], got[1]
	if p.GetFileId() != photo || p.GetName() != "cat.png" || p.GetContentType() != "image/png" || p.GetSizeBytes() != 2048 ||
		p.GetWidth() != 640 || p.GetHeight() != 480 || p.GetUrl() != fakeURL(photo, "original") || p.GetThumbnailUrl() != fakeURL(photo, "256") ||
		p.GetUrlExpiresAt() == nil {
		t.Fatalf("photo in the response %v", p)
	}
	if d.GetFileId() != doc || d.GetName() != "notes.pdf" || d.GetSizeBytes() != 5000 || d.GetUrl() != fakeURL(doc, "original") ||
		d.GetThumbnailUrl() != "" || d.GetWidth() != 0 {
		t.Fatalf("document in the response %v", d)
	}
	if n := len(e.media.callLog()); n != 1 {
		t.Fatalf("media asked %d times for one send; want 1 (the check's answer gives the response's URLs)", n)
	}

	// Stored with the message (no URLs), and published.
	var stored []map[string]any
	var raw []byte
	if err := e.pool.QueryRow(ctx, `SELECT attachments FROM messages WHERE message_id = $1`, sent.Msg.GetMessage().GetMessageId()).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &stored); err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 || stored[0]["name"] != "cat.png" || stored[0]["width"] != float64(640) || stored[1]["content_type"] != "application/pdf" ||
		strings.Contains(string(raw), "http") {
		t.Fatalf("stored attachments %s", raw)
	}
	events := e.messagesSent(t)
	if len(events) != 1 {
		t.Fatalf("%d MessageSent; want 1", len(events))
	}
	ea := events[0].GetAttachments()
	if len(ea) != 2 || ea[0].GetFileId() != photo || ea[0].GetName() != "cat.png" || ea[0].GetSizeBytes() != 2048 || ea[0].GetContentType() != "image/png" ||
		ea[1].GetFileId() != doc || ea[1].GetName() != "notes.pdf" || ea[1].GetSizeBytes() != 5000 || ea[1].GetContentType() != "application/pdf" {
		t.Fatalf("MessageSent.attachments %v", ea)
	}

	// A retry returns the first message without asking the media service again — even if the file
	// has gone since.
	e.media.remove(doc)
	again, err := e.client.SendMessage(ctx, as(alice, req))
	if err != nil || !again.Msg.GetDuplicate() || again.Msg.GetMessage().GetMessageId() != sent.Msg.GetMessage().GetMessageId() ||
		len(again.Msg.GetMessage().GetAttachments()) != 2 || again.Msg.GetMessage().GetAttachments()[1].GetName() != "notes.pdf" {
		t.Fatalf("retry: %v, %v; want the first message, duplicate", again.Msg, err)
	}
	if n := len(e.media.callLog()); n != 1 {
		t.Fatalf("media asked %d times after a retry; want still 1", n)
	}

	// More messages; bob reads a page with one media call made with his token.
	second := e.media.attachment(alice, chatID, "dog.jpg", "image/jpeg", 999)
	if _, err := e.client.SendMessage(ctx, as(alice, withAttachments(sendIn(chatID, "and a dog"), second))); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.SendMessage(ctx, as(bob, sendIn(chatID, "nice"))); err != nil {
		t.Fatal(err)
	}
	before := len(e.media.callLog())
	page, err := e.client.ListMessages(ctx, as(bob, &chatv1.ListMessagesRequest{ChatId: chatID}))
	if err != nil {
		t.Fatal(err)
	}
	calls := e.media.callLog()[before:]
	if len(calls) != 1 || calls[0].user != bob.id || calls[0].internal {
		t.Fatalf("listing asked media %+v; want one call as bob (his token, no internal token)", calls)
	}
	if !slices.Equal(sortedCopy(calls[0].ids), sortedCopy([]string{photo, doc, second})) {
		t.Fatalf("listing asked for %v; want the page's three files", calls[0].ids)
	}
	msgs := page.Msg.GetMessages() // newest first: bob's text, the dog, the photo and document
	if len(msgs) != 3 || len(msgs[0].GetAttachments()) != 0 {
		t.Fatalf("bob's page %v", msgs)
	}
	dog := msgs[1].GetAttachments()[0]
	if dog.GetName() != "dog.jpg" || dog.GetUrl() != fakeURL(second, "original") || dog.GetThumbnailUrl() != fakeURL(second, "256") || dog.GetUrlExpiresAt() == nil {
		t.Fatalf("dog for bob %v", dog)
	}
	first := msgs[2].GetAttachments()
	if first[0].GetUrl() != fakeURL(photo, "original") || first[0].GetThumbnailUrl() != fakeURL(photo, "256") {
		t.Fatalf("photo for bob %v", first[0])
	}
	// The document was deleted in the media service: its metadata stays, without URLs.
	if first[1].GetName() != "notes.pdf" || first[1].GetSizeBytes() != 5000 || first[1].GetUrl() != "" || first[1].GetUrlExpiresAt() != nil {
		t.Fatalf("deleted document for bob %v; want metadata without URLs", first[1])
	}

	// Last messages: GetChat and ListChats fill them too.
	if _, err := e.client.SendMessage(ctx, as(alice, withAttachments(sendIn(chatID, ""), second))); err != nil {
		t.Fatal(err)
	}
	before = len(e.media.callLog())
	got1, err := e.client.GetChat(ctx, as(bob, &chatv1.GetChatRequest{By: &chatv1.GetChatRequest_ChatId{ChatId: chatID}}))
	if err != nil {
		t.Fatal(err)
	}
	if a := got1.Msg.GetChat().GetLastMessage().GetAttachments(); len(a) != 1 || a[0].GetName() != "dog.jpg" || a[0].GetUrl() == "" {
		t.Fatalf("GetChat last message attachments %v", a)
	}
	list, err := e.client.ListChats(ctx, as(bob, &chatv1.ListChatsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if a := list.Msg.GetChats()[0].GetLastMessage().GetAttachments(); len(a) != 1 || a[0].GetThumbnailUrl() != fakeURL(second, "256") {
		t.Fatalf("ListChats last message attachments %v", a)
	}
	if calls := e.media.callLog()[before:]; len(calls) != 2 || calls[0].user != bob.id || calls[1].user != bob.id || calls[0].internal || calls[1].internal {
		t.Fatalf("GetChat and ListChats asked media %+v; want once each, as bob", calls)
	}

	// An edit keeps the attachments; a deletion drops them.
	id := msgs[1].GetMessageId()
	edited, err := e.client.EditMessage(ctx, as(alice, &chatv1.EditMessageRequest{ChatId: chatID, MessageId: id, Text: "a dog!"}))
	if err != nil || len(edited.Msg.GetMessage().GetAttachments()) != 1 || edited.Msg.GetMessage().GetAttachments()[0].GetUrl() == "" {
		t.Fatalf("edit: %v, %v; want the attachment kept, with URLs", edited.Msg, err)
	}
	del, err := e.client.DeleteMessage(ctx, as(alice, &chatv1.DeleteMessageRequest{ChatId: chatID, MessageId: id}))
	if err != nil || len(del.Msg.GetMessage().GetAttachments()) != 0 {
		t.Fatalf("delete: %v, %v; want no attachments", del.Msg, err)
	}
	if err := e.pool.QueryRow(ctx, `SELECT attachments FROM messages WHERE message_id = $1`, id).Scan(&raw); err != nil || string(raw) != "[]" {
		t.Fatalf("tombstone keeps attachments %s (%v)", raw, err)
	}
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// A first send to a friend by user_id resolves (creates) the chat before the files are checked
// against it.
func TestFirstSendWithAttachmentsCreatesTheChatFirst(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, bob := e.newUser(t), e.newUser(t)
	e.friend.set(alice, bob, true) // friends; FriendAccepted has not arrived, so no chat yet
	chatID := chat.ChatID(alice.id, bob.id)
	file := e.media.attachment(alice, chatID, "hello.txt", "text/plain; charset=utf-8", 6)

	res, err := e.client.SendMessage(ctx, as(alice, withAttachments(sendTo(bob, ""), file)))
	if err != nil {
		t.Fatal(err)
	}
	m := res.Msg.GetMessage()
	if m.GetChatId() != chatID || m.GetSeq() != 1 || len(m.GetAttachments()) != 1 || m.GetAttachments()[0].GetName() != "hello.txt" {
		t.Fatalf("first message %v", m)
	}
	if got := e.friend.callers(); !slices.Equal(got, []string{alice.id}) {
		t.Fatalf("friend service asked by %v; want alice once", got)
	}
	if calls := e.media.callLog(); len(calls) != 1 || calls[0].user != alice.id {
		t.Fatalf("media calls %+v; want one, as alice", calls)
	}
}

// With the media service down a message with attachments is refused (Unavailable, nothing
// stored), while text goes through and listings still work, without URLs.
func TestMediaDown(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, bob, chatID := e.friends(t)
	photo := e.media.attachment(alice, chatID, "cat.png", "image/png", 2048)
	if _, err := e.client.SendMessage(ctx, as(alice, withAttachments(sendIn(chatID, "before"), photo))); err != nil {
		t.Fatal(err)
	}

	e.media.setDown(true)
	other := e.media.attachment(alice, chatID, "other.png", "image/png", 100)
	_, err := e.client.SendMessage(ctx, as(alice, withAttachments(sendIn(chatID, "during"), other)))
	rpctest.WantCode(t, err, connect.CodeUnavailable, "the media service cannot be reached")
	if n, seq := e.storedCounts(t, chatID); n != 1 || seq != 1 {
		t.Fatalf("%d messages, last_seq %d after a send refused for media; want the one from before", n, seq)
	}
	if _, err := e.client.SendMessage(ctx, as(alice, sendIn(chatID, "text needs no media"))); err != nil {
		t.Fatalf("text while media is down: %v", err)
	}

	page, err := e.client.ListMessages(ctx, as(bob, &chatv1.ListMessagesRequest{ChatId: chatID}))
	if err != nil {
		t.Fatalf("listing while media is down: %v", err)
	}
	msgs := page.Msg.GetMessages()
	if len(msgs) != 2 {
		t.Fatalf("bob's page %v", msgs)
	}
	a := msgs[1].GetAttachments()
	if len(a) != 1 || a[0].GetName() != "cat.png" || a[0].GetSizeBytes() != 2048 || a[0].GetContentType() != "image/png" ||
		a[0].GetUrl() != "" || a[0].GetThumbnailUrl() != "" {
		t.Fatalf("attachment while media is down %v; want metadata, no URLs", a)
	}
	if _, err := e.client.GetChat(ctx, as(bob, &chatv1.GetChatRequest{By: &chatv1.GetChatRequest_ChatId{ChatId: chatID}})); err != nil {
		t.Fatalf("GetChat while media is down: %v", err)
	}

	// Back up: the send goes through (nothing about the failure was kept).
	e.media.setDown(false)
	if _, err := e.client.SendMessage(ctx, as(alice, withAttachments(sendIn(chatID, "after"), other))); err != nil {
		t.Fatalf("send once media is back: %v", err)
	}
}

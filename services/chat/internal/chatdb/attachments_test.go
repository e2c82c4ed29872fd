package chatdb_test

import (
	"context"
	"slices"
	"testing"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/services/chat/internal/chat"
)

func TestAttachmentMetadataIsStoredWithTheMessage(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	a, b := newID(), newID()
	befriend(t, s, pool, a, b, true)
	chatID := chat.ChatID(a, b)

	m := newMessage(chatID, a, "")
	m.Attachments = []chat.Attachment{
		{FileID: newID(), Name: "cat.png", ContentType: "image/png", SizeBytes: 2048, Width: 640, Height: 480, URL: "http://x/never-stored"},
		{FileID: newID(), Name: "notes.pdf", ContentType: "application/pdf", SizeBytes: 5000},
	}
	sent, dup, err := s.Send(ctx, m)
	if err != nil || dup {
		t.Fatalf("send: %v dup %v", err, dup)
	}
	want := slices.Clone(m.Attachments)
	want[0].URL = ""
	if !slices.Equal(sent.Attachments, want) {
		t.Fatalf("sent attachments %+v; want %+v (URLs are not stored)", sent.Attachments, want)
	}
	ev := outboxEvents(t, pool, func() *eventsv1.MessageSent { return new(eventsv1.MessageSent) })
	if len(ev) != 1 || len(ev[0].GetAttachments()) != 2 {
		t.Fatalf("MessageSent %v", ev)
	}
	for i, got := range ev[0].GetAttachments() {
		w := want[i]
		if got.GetFileId() != w.FileID || got.GetName() != w.Name || got.GetSizeBytes() != w.SizeBytes || got.GetContentType() != w.ContentType {
			t.Fatalf("MessageSent.attachments[%d] %v; want %+v", i, got, w)
		}
	}

	msgs, err := s.ListMessages(ctx, b, chatID, chat.Newer, 0, 10)
	if err != nil || len(msgs) != 1 || !slices.Equal(msgs[0].Attachments, want) {
		t.Fatalf("listed %+v, %v; want the attachments with their metadata", msgs, err)
	}
	c, err := s.GetChat(ctx, b, chatID)
	if err != nil || c.LastMessage == nil || !slices.Equal(c.LastMessage.Attachments, want) {
		t.Fatalf("last message %+v, %v", c.LastMessage, err)
	}

	// SendState: the chat, and the stored message for its client_msg_id.
	st, err := s.SendState(ctx, a, chatID, m.ClientMsgID)
	if err != nil || !st.Participant || !st.CanSend || st.Duplicate == nil || st.Duplicate.ID != sent.ID || !slices.Equal(st.Duplicate.Attachments, want) {
		t.Fatalf("SendState of a used key: %+v, %v", st, err)
	}
	if st, err := s.SendState(ctx, b, chatID, m.ClientMsgID); err != nil || !st.Participant || st.Duplicate != nil {
		t.Fatalf("SendState of the peer with the same key: %+v, %v; want no duplicate (keys are per sender)", st, err)
	}
	if st, err := s.SendState(ctx, newID(), chatID, m.ClientMsgID); err != nil || st.Participant || st.Duplicate != nil {
		t.Fatalf("SendState of a stranger: %+v, %v; want not a participant", st, err)
	}
	befriend(t, s, pool, a, b, false)
	if st, err := s.SendState(ctx, a, chatID, newID()); err != nil || !st.Participant || st.CanSend {
		t.Fatalf("SendState after FriendRemoved: %+v, %v; want participant, cannot send", st, err)
	}

	// A tombstone has none.
	del, err := s.ChangeMessage(ctx, a, chatID, sent.ID, func(chat.Message, bool) (chat.MessageChange, error) {
		return chat.MessageChange{Kind: chat.Delete}, nil
	})
	if err != nil || len(del.Attachments) != 0 {
		t.Fatalf("delete: %+v, %v", del, err)
	}
	msgs, err = s.ListMessages(ctx, b, chatID, chat.Newer, 0, 10)
	if err != nil || len(msgs[0].Attachments) != 0 {
		t.Fatalf("tombstone listed with attachments %+v, %v", msgs, err)
	}
}

// Messages stored before attachments carried metadata (only attachment_ids filled) still list,
// with their file ids.
func TestMessagesWithoutAttachmentMetadataKeepTheirIDs(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	a, b := newID(), newID()
	befriend(t, s, pool, a, b, true)
	chatID := chat.ChatID(a, b)
	sent, _, err := s.Send(ctx, newMessage(chatID, a, "old"))
	if err != nil {
		t.Fatal(err)
	}
	f1, f2 := newID(), newID()
	if _, err := pool.Exec(ctx, `UPDATE messages SET attachment_ids = $2, attachments = '[]' WHERE message_id = $1`, sent.ID, []string{f1, f2}); err != nil {
		t.Fatal(err)
	}
	msgs, err := s.ListMessages(ctx, a, chatID, chat.Older, 1<<62, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []chat.Attachment{{FileID: f1}, {FileID: f2}}; len(msgs) != 1 || !slices.Equal(msgs[0].Attachments, want) {
		t.Fatalf("old message listed with %+v; want %+v", msgs[0].Attachments, want)
	}
}

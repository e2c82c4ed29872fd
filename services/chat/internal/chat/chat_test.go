package chat_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/services/chat/internal/chat"
)

func TestChatIDIsThePairs(t *testing.T) {
	a, b, c := uuid.NewString(), uuid.NewString(), uuid.NewString()
	if chat.ChatID(a, b) != chat.ChatID(b, a) {
		t.Fatal("ChatID depends on the order of the pair")
	}
	if chat.ChatID(a, b) == chat.ChatID(a, c) {
		t.Fatal("two pairs share a chat id")
	}
	if _, err := uuid.Parse(chat.ChatID(a, b)); err != nil {
		t.Fatalf("ChatID is not a UUID: %v", err)
	}
}

func TestNormalizeText(t *testing.T) {
	cases := []struct {
		in         string
		allowEmpty bool
		want       string
		err        string
	}{
		{"  hi\n", false, "hi", ""},
		{strings.Repeat("😀", chat.MaxTextLen), false, strings.Repeat("😀", chat.MaxTextLen), ""},
		{" " + strings.Repeat("a", chat.MaxTextLen) + " ", false, strings.Repeat("a", chat.MaxTextLen), ""},
		{strings.Repeat("😀", chat.MaxTextLen+1), false, "", "text: at most 4000 characters, got 4001"},
		{"   ", false, "", "text: required"},
		{"   ", true, "", ""},
		{"a\x00", false, "", "NUL"},
		{"\xff", false, "", "UTF-8"},
	}
	for _, c := range cases {
		got, err := chat.NormalizeText(c.in, c.allowEmpty)
		if c.err == "" && (err != nil || got != c.want) {
			t.Errorf("NormalizeText(%.20q) = %.20q, %v; want %.20q", c.in, got, err, c.want)
		}
		if c.err != "" && (err == nil || !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("NormalizeText(%.20q) error %v; want InvalidArgument containing %q", c.in, err, c.err)
		}
	}
}

func TestNormalizeAttachments(t *testing.T) {
	id := "0B5E1C1E-8A1F-4C47-9D3E-2F6A1B7C9D01"
	got, err := chat.NormalizeAttachments([]string{id})
	if err != nil || len(got) != 1 || got[0] != strings.ToLower(id) {
		t.Fatalf("NormalizeAttachments = %v, %v", got, err)
	}
	ten := make([]string, chat.MaxAttachments)
	for i := range ten {
		ten[i] = uuid.NewString()
	}
	if _, err := chat.NormalizeAttachments(ten); err != nil {
		t.Fatalf("ten attachments: %v", err)
	}
	if _, err := chat.NormalizeAttachments(append(ten, uuid.NewString())); err == nil || !strings.Contains(err.Error(), "at most 10") {
		t.Fatalf("eleven attachments: %v", err)
	}
	if _, err := chat.NormalizeAttachments([]string{uuid.NewString(), "{" + uuid.NewString() + "}"}); err == nil || !strings.Contains(err.Error(), "attachment_file_ids[1]") {
		t.Fatalf("a braced UUID: %v", err)
	}
}

func TestPageTokens(t *testing.T) {
	chatID := uuid.NewString()
	tok := chat.MessagesToken(chatID, chat.Newer, 7)
	if seq, err := chat.DecodeMessagesToken(tok, chatID, chat.Newer); err != nil || seq != 7 {
		t.Fatalf("round trip: %d, %v", seq, err)
	}
	if _, err := chat.DecodeMessagesToken(tok, uuid.NewString(), chat.Newer); err == nil {
		t.Fatal("a token accepted for another chat")
	}
	if _, err := chat.DecodeMessagesToken(chat.MessagesToken(chatID, chat.Older, 0), chatID, chat.Older); err == nil {
		t.Fatal("an OLDER token below seq 1 accepted")
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 123456000, time.UTC)
	c, err := chat.DecodeChatsToken(chat.ChatsToken(chat.ChatCursor{LastActivityAt: at, ChatID: chatID}))
	if err != nil || !c.LastActivityAt.Equal(at) || c.ChatID != chatID {
		t.Fatalf("chats token round trip: %+v, %v", c, err)
	}
	if c, err := chat.DecodeChatsToken(""); c != nil || err != nil {
		t.Fatalf("empty chats token: %v, %v; want the first page", c, err)
	}
	if _, err := chat.DecodeChatsToken(strings.Repeat("A", 300)); err == nil || !errors.Is(err, domainerr.ErrInvalidArgument) {
		t.Fatalf("oversized token: %v", err)
	}
}

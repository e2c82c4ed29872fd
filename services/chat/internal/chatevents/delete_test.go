package chatevents_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/services/chat/internal/chat"
	"github.com/parleyhq/parley/services/chat/internal/chatcache"
	"github.com/parleyhq/parley/services/chat/internal/chatdb"
)

// TestUserDeletedLeavesTombstones: the deleted user's messages become tombstones in the peer's
// history (no text, no attachments; the seqs stay 1..n), their chats close, their profile copy
// goes and the peer sees a deleted account; the peer's own messages are untouched. A redelivered
// deletion and late friend and profile events change nothing. The consumer starts after the
// deletion was published: a chat service that was down catches up from the event.
func TestUserDeletedLeavesTombstones(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, brokers := kafkatest.New(t)
	pool := eventstest.NewDB(t, "chat", chatdb.Migrations)
	store := chatdb.New(pool, events.NewOutbox("chat"))
	cache := chatcache.New(redistest.New(t), time.Minute)
	producer := kafkatest.Producer(t, brokers)
	produce := func(recs ...*kgo.Record) {
		t.Helper()
		kafkatest.Produce(t, producer, recs...)
	}

	gone, bob, carol := uuid.NewString(), uuid.NewString(), uuid.NewString()
	for _, p := range [][2]string{{gone, bob}, {bob, carol}} {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.SetFriendship(ctx, tx, p[0], p[1], true); err != nil {
			t.Fatal(err)
		}
		if _, err := store.UpsertPeer(ctx, tx, chatdb.PeerProfile{UserID: p[0], Nickname: "n" + p[0][:4], AvatarFileID: uuid.NewString(), Version: 1}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	chatGB, chatBC := chat.ChatID(gone, bob), chat.ChatID(bob, carol)
	send := func(chatID, from, text string, files ...string) {
		t.Helper()
		id, _ := uuid.NewV7()
		m := chat.NewMessage{ID: id.String(), ChatID: chatID, SenderID: from, ClientMsgID: uuid.NewString(), Text: text}
		for _, f := range files {
			m.Attachments = append(m.Attachments, chat.Attachment{FileID: f, Name: "cat.png", ContentType: "image/png", SizeBytes: 10, Width: 1, Height: 1})
		}
		if _, _, err := store.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	send(chatGB, gone, "hello bob")
	send(chatGB, bob, "hi!")
	send(chatGB, gone, "", uuid.NewString())
	send(chatGB, gone, "bye")
	if _, err := store.ChangeMessage(ctx, gone, chatGB, messageAt(t, store, bob, chatGB, 4).ID, func(chat.Message, bool) (chat.MessageChange, error) {
		return chat.MessageChange{Kind: chat.Edit, Text: "bye for now"}, nil
	}); err != nil {
		t.Fatal(err)
	}
	send(chatBC, carol, "carol stays")

	deletion := uuid.NewString()
	produce(eventstest.Record(topics.Auth, gone, deletion, &eventsv1.UserDeleted{UserId: gone, DeletedAt: timestamppb.Now()}))
	startConsumer(t, brokers, pool, store, cache)
	eventually(t, "the deletion applied", func() (bool, error) {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM deleted_users WHERE user_id = $1`, gone).Scan(&n)
		return n == 1, err
	})

	// Bob's history: 1..4 without a gap; the deleted user's three are tombstones, his own is not.
	msgs, err := store.ListMessages(ctx, bob, chatGB, chat.Newer, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 4 {
		t.Fatalf("%d messages, want 4", len(msgs))
	}
	for i, m := range msgs {
		if m.Seq != int64(i+1) {
			t.Fatalf("message %d has seq %d: the history has a gap", i, m.Seq)
		}
		if m.SenderID == gone {
			if m.Text != "" || len(m.Attachments) != 0 || m.DeletedAt.IsZero() || !m.EditedAt.IsZero() || m.ClientMsgID != m.ID {
				t.Errorf("message %d of the deleted user is not a bare tombstone: %+v", m.Seq, m)
			}
		} else if m.Text != "hi!" || !m.DeletedAt.IsZero() {
			t.Errorf("bob's own message changed: %+v", m)
		}
	}
	var leftover int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE sender_id = $1
		AND (text <> '' OR cardinality(attachment_ids) > 0 OR attachments <> '[]' OR deleted_at IS NULL)`, gone).Scan(&leftover); err != nil || leftover != 0 {
		t.Fatalf("%d messages of the deleted user keep content (%v)", leftover, err)
	}
	c, err := store.GetChat(ctx, bob, chatGB)
	if err != nil {
		t.Fatal(err)
	}
	if c.CanSend || !c.Peer.DeletedAccount || c.Peer.Nickname != "" || c.Peer.AvatarFileID != "" || c.LastMessage == nil || c.LastMessage.DeletedAt.IsZero() {
		t.Fatalf("bob's chat with the deleted user: %+v", c)
	}
	if c, err := store.GetChat(ctx, bob, chatBC); err != nil || !c.CanSend || c.Peer.DeletedAccount || c.LastMessage.Text != "carol stays" {
		t.Fatalf("bob's chat with carol: %+v, %v", c, err)
	}

	// Late events: the deletion again, a friendship and a newer profile. Then a marker profile on
	// the same key, and the friend record before a marker friendship on the same key.
	produce(
		eventstest.Record(topics.Auth, gone, deletion, &eventsv1.UserDeleted{UserId: gone, DeletedAt: timestamppb.Now()}),
		eventstest.Record(topics.Profile, gone, uuid.NewString(), &eventsv1.ProfileUpdated{UserId: gone, Nickname: "ghost", Version: 7}),
		eventstest.Record(topics.Profile, gone, uuid.NewString(), &eventsv1.ProfileUpdated{UserId: carol, Nickname: "marker", Version: 7}),
		eventstest.Record(topics.Friend, pairKey(gone, bob), uuid.NewString(), &eventsv1.FriendAccepted{RequestId: uuid.NewString(), RequesterId: gone, AccepterId: carol}),
		eventstest.Record(topics.Friend, pairKey(gone, bob), uuid.NewString(), &eventsv1.FriendAccepted{RequestId: uuid.NewString(), RequesterId: gone, AccepterId: bob}),
		eventstest.Record(topics.Friend, pairKey(gone, bob), uuid.NewString(), &eventsv1.FriendRemoved{UserId: bob, FriendUserId: carol, Reason: "removed"}),
	)
	eventually(t, "the markers", func() (bool, error) {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM peer_profiles WHERE user_id = $1 AND nickname = 'marker'`, carol).Scan(&n)
		if err != nil || n == 0 {
			return false, err
		}
		_, can, err := store.Access(ctx, bob, chatBC)
		return !can, err
	})
	var profiles, chats, open int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM peer_profiles WHERE user_id = $1),
		(SELECT count(*) FROM chats WHERE $1 IN (user_lo, user_hi)),
		(SELECT count(*) FROM chats WHERE $1 IN (user_lo, user_hi) AND can_send)`, gone).Scan(&profiles, &chats, &open); err != nil {
		t.Fatal(err)
	}
	if profiles != 0 || chats != 1 || open != 0 {
		t.Fatalf("after late events: %d profile copies, %d chats (%d open) of the deleted user; want 0, 1 (bob's history), 0", profiles, chats, open)
	}
}

// messageAt returns the message with seq in chatID as reader sees it.
func messageAt(t *testing.T, store *chatdb.Store, reader, chatID string, seq int64) chat.Message {
	t.Helper()
	msgs, err := store.ListMessages(context.Background(), reader, chatID, chat.Newer, seq-1, 1)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("message %d: %v, %v", seq, msgs, err)
	}
	return msgs[0]
}

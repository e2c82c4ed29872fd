package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	friendv1 "github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1"
	notificationv1 "github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1"
	profilev1 "github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1"
	"github.com/parleyhq/parley/devstack/e2e/conversation"
)

// person is a signed-up user whose profile exists.
type person struct {
	id, token, email, nickname string
}

// signUp registers a person through the gateway and waits until every service that learns about
// users from UserRegistered has heard of them (the profile exists).
func signUp(t *testing.T, c clients, prefix string) person {
	t.Helper()
	ctx := context.Background()
	nick := uniqueName(prefix)
	email := nick + "@example.com"
	res, err := c.auth.Register(ctx, connect.NewRequest(&authv1.RegisterRequest{Email: email, Password: "correct horse battery staple", Nickname: nick}))
	if err != nil {
		t.Fatalf("register %s: %v", nick, err)
	}
	p := person{id: res.Msg.GetUserId(), token: res.Msg.GetTokens().GetAccessToken(), email: email, nickname: nick}
	eventually(t, nick+"'s profile", func() (*profilev1.GetProfileResponse, error) {
		return msgOf(c.profile.GetProfile(ctx, withToken(&profilev1.GetProfileRequest{}, p.token)))
	})
	// Confirm the address with the emailed link, as the person would: notifications are emailed
	// only to verified addresses.
	if _, err := c.auth.VerifyEmail(ctx, connect.NewRequest(&authv1.VerifyEmailRequest{VerificationToken: emailedToken(t, email, "Confirm your email address for Parley", "/verify-email#token=")})); err != nil {
		t.Fatalf("verify %s: %v", email, err)
	}
	return p
}

// befriend makes a and b friends through the API: a asks (retrying while the friend service has
// not yet heard of b), b accepts.
func befriend(t *testing.T, c clients, a, b person) {
	t.Helper()
	ctx := context.Background()
	sent := eventually(t, "friend request", func() (*friendv1.SendFriendRequestResponse, error) {
		return msgOf(c.friend.SendFriendRequest(ctx, withToken(&friendv1.SendFriendRequestRequest{UserId: b.id}, a.token)))
	})
	if _, err := c.friend.AcceptFriendRequest(ctx, withToken(&friendv1.AcceptFriendRequestRequest{RequestId: sent.GetRequest().GetRequestId()}, b.token)); err != nil {
		t.Fatalf("accept: %v", err)
	}
}

// conv is p as the conversation package knows people.
func (p person) conv() conversation.Person {
	return conversation.Person{ID: p.id, Token: p.token, Email: p.email, Nickname: p.nickname}
}

// scenario is the conversation package's view of the gateway through c, at this suite's pace:
// checks wait 15 s (as eventually), failing sends and sign-ups are retried for 30 s, and a
// newcomer signs up every 300 ms (TestReplicas' rolling restart).
func (c clients) scenario() *conversation.Scenario {
	return &conversation.Scenario{
		Clients: conversation.Clients{Auth: c.auth, Profile: c.profile, Friend: c.friend, Chat: c.chat, Notification: c.notification},
		Entry:   gatewayURL, Wait: 15 * time.Second, SendRetry: 30 * time.Second, SignUpEvery: 300 * time.Millisecond,
	}
}

func notificationsOf(ctx context.Context, c clients, p person) ([]*notificationv1.Notification, error) {
	return c.scenario().Notifications(ctx, p.conv())
}

func waitNotification(t *testing.T, c clients, p person, kind notificationv1.NotificationKind, subject string) *notificationv1.Notification {
	t.Helper()
	return c.scenario().WaitNotification(t, p.conv(), kind, subject)
}

// mailTo returns the messages the mail catcher holds for an address (mailpit's search API).
func mailTo(address string) ([]mailpitMessage, error) {
	res, err := http.Get(stk.MailpitURL() + "/api/v1/search?query=" + url.QueryEscape("to:"+address))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("mailpit search: HTTP %d", res.StatusCode)
	}
	var body struct{ Messages []mailpitMessage }
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return nil, err
	}
	return body.Messages, nil
}

type mailpitMessage struct {
	ID      string
	Subject string
	Snippet string
}

// testFriendsChatAndNotifications is the seed's story through the gateway: a friend request raises
// an in-app notification and an email, acceptance allows the chat, a message reaches the recipient
// and raises a notification, reading moves the cursors, and strangers are refused.
func testFriendsChatAndNotifications(t *testing.T) {
	ctx := context.Background()
	c := newClients()
	alice, bob, mallory := signUp(t, c, "alice"), signUp(t, c, "bob"), signUp(t, c, "mallory")

	// Friend request → in-app notification and an email for bob.
	sent := eventually(t, "friend request", func() (*friendv1.SendFriendRequestResponse, error) {
		return msgOf(c.friend.SendFriendRequest(ctx, withToken(&friendv1.SendFriendRequestRequest{UserId: bob.id}, alice.token)))
	})
	requestID := sent.GetRequest().GetRequestId()
	if requestID == "" {
		t.Fatalf("no pending request: %v", sent)
	}
	incoming, err := c.friend.ListFriendRequests(ctx, withToken(&friendv1.ListFriendRequestsRequest{Direction: friendv1.FriendRequestDirection_FRIEND_REQUEST_DIRECTION_INCOMING}, bob.token))
	if err != nil || len(incoming.Msg.GetRequests()) != 1 || incoming.Msg.GetRequests()[0].GetOtherUser().GetNickname() != alice.nickname {
		t.Fatalf("bob's incoming requests: %v %v", incoming, err)
	}
	waitNotification(t, c, bob, notificationv1.NotificationKind_NOTIFICATION_KIND_FRIEND_REQUEST, "")
	mail := eventually(t, "friend request email", func() (mailpitMessage, error) {
		msgs, err := mailTo(bob.email)
		if err != nil {
			return mailpitMessage{}, err
		}
		for _, m := range msgs { // the verification email came first
			if strings.Contains(m.Subject, "friend") {
				return m, nil
			}
		}
		return mailpitMessage{}, errors.New("no friend request email yet")
	})
	if !strings.Contains(mail.Subject+mail.Snippet, alice.nickname) {
		t.Fatalf("the email should name who asked (%s): %+v", alice.nickname, mail)
	}

	// Before they are friends nobody can message anybody.
	_, err = c.chat.SendMessage(ctx, withToken(&chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_UserId{UserId: bob.id}, ClientMsgId: uuid.NewString(), Text: "hi?"}, alice.token))
	wantCode(t, err, connect.CodeFailedPrecondition)

	// Only the recipient can accept.
	_, err = c.friend.AcceptFriendRequest(ctx, withToken(&friendv1.AcceptFriendRequestRequest{RequestId: requestID}, alice.token))
	if err == nil {
		t.Fatal("the sender must not be able to accept their own request")
	}
	if _, err := c.friend.AcceptFriendRequest(ctx, withToken(&friendv1.AcceptFriendRequestRequest{RequestId: requestID}, bob.token)); err != nil {
		t.Fatalf("accept: %v", err)
	}
	waitNotification(t, c, alice, notificationv1.NotificationKind_NOTIFICATION_KIND_FRIEND_ACCEPTED, "")
	friends, err := c.friend.ListFriends(ctx, withToken(&friendv1.ListFriendsRequest{}, alice.token))
	if err != nil || len(friends.Msg.GetFriends()) != 1 || friends.Msg.GetFriends()[0].GetUser().GetUserId() != bob.id {
		t.Fatalf("alice's friends: %v %v", friends, err)
	}

	// Accepted → chat allowed. The same client_msg_id twice stores one message.
	clientMsgID := uuid.NewString()
	first := eventually(t, "first message", func() (*chatv1.SendMessageResponse, error) {
		return msgOf(c.chat.SendMessage(ctx, withToken(&chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_UserId{UserId: bob.id}, ClientMsgId: clientMsgID, Text: "  hello bob  "}, alice.token)))
	}).GetMessage()
	if first.GetText() != "hello bob" || first.GetSeq() != 1 {
		t.Fatalf("first message: %v", first)
	}
	again, err := c.chat.SendMessage(ctx, withToken(&chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_ChatId{ChatId: first.GetChatId()}, ClientMsgId: clientMsgID, Text: "different"}, alice.token))
	if err != nil || !again.Msg.GetDuplicate() || again.Msg.GetMessage().GetMessageId() != first.GetMessageId() {
		t.Fatalf("retry with the same client_msg_id: %v %v", again, err)
	}
	chatID := first.GetChatId()
	reply, err := c.chat.SendMessage(ctx, withToken(&chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_ChatId{ChatId: chatID}, ClientMsgId: uuid.NewString(), Text: "hi alice"}, bob.token))
	if err != nil || reply.Msg.GetMessage().GetSeq() != 2 {
		t.Fatalf("bob's reply: %v %v", reply, err)
	}
	_, err = c.chat.SendMessage(ctx, withToken(&chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_ChatId{ChatId: chatID}, ClientMsgId: uuid.NewString(), Text: strings.Repeat("x", 4001)}, bob.token))
	wantCode(t, err, connect.CodeInvalidArgument)

	// The recipient sees the message and is notified.
	history, err := c.chat.ListMessages(ctx, withToken(&chatv1.ListMessagesRequest{ChatId: chatID}, bob.token))
	if err != nil || len(history.Msg.GetMessages()) != 2 || history.Msg.GetMessages()[0].GetSeq() != 2 {
		t.Fatalf("bob's history (newest first): %v %v", history, err)
	}
	waitNotification(t, c, bob, notificationv1.NotificationKind_NOTIFICATION_KIND_MESSAGE, "")
	chats, err := c.chat.ListChats(ctx, withToken(&chatv1.ListChatsRequest{}, bob.token))
	if err != nil || len(chats.Msg.GetChats()) != 1 || chats.Msg.GetChats()[0].GetUnreadCount() != 1 ||
		chats.Msg.GetChats()[0].GetPeer().GetNickname() != alice.nickname {
		t.Fatalf("bob's chats: %v %v", chats, err)
	}

	// Reading moves bob's cursor (never backwards) and alice sees it.
	read, err := c.chat.MarkRead(ctx, withToken(&chatv1.MarkReadRequest{ChatId: chatID, UpToSeq: 2}, bob.token))
	if err != nil || read.Msg.GetReadSeq() != 2 || read.Msg.GetUnreadCount() != 0 {
		t.Fatalf("mark read: %v %v", read, err)
	}
	back, err := c.chat.MarkRead(ctx, withToken(&chatv1.MarkReadRequest{ChatId: chatID, UpToSeq: 1}, bob.token))
	if err != nil || back.Msg.GetReadSeq() != 2 {
		t.Fatalf("the read cursor moved backwards: %v %v", back, err)
	}
	seen, err := c.chat.GetChat(ctx, withToken(&chatv1.GetChatRequest{By: &chatv1.GetChatRequest_ChatId{ChatId: chatID}}, alice.token))
	if err != nil || seen.Msg.GetChat().GetPeerReadSeq() != 2 {
		t.Fatalf("alice should see bob read up to 2: %v %v", seen, err)
	}

	// A stranger can neither message nor read nor mark the chat.
	_, err = c.chat.SendMessage(ctx, withToken(&chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_ChatId{ChatId: chatID}, ClientMsgId: uuid.NewString(), Text: "let me in"}, mallory.token))
	wantCode(t, err, connect.CodeNotFound)
	_, err = c.chat.SendMessage(ctx, withToken(&chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_UserId{UserId: alice.id}, ClientMsgId: uuid.NewString(), Text: "hi stranger"}, mallory.token))
	wantCode(t, err, connect.CodeFailedPrecondition)
	_, err = c.chat.ListMessages(ctx, withToken(&chatv1.ListMessagesRequest{ChatId: chatID}, mallory.token))
	wantCode(t, err, connect.CodeNotFound)
	_, err = c.chat.MarkRead(ctx, withToken(&chatv1.MarkReadRequest{ChatId: chatID, UpToSeq: 1}, mallory.token))
	wantCode(t, err, connect.CodeNotFound)

	// Removing the friend keeps the history readable but stops sending.
	if _, err := c.friend.RemoveFriend(ctx, withToken(&friendv1.RemoveFriendRequest{UserId: bob.id}, alice.token)); err != nil {
		t.Fatalf("remove friend: %v", err)
	}
	eventually(t, "sending refused after the friendship ended", func() (bool, error) {
		_, err := c.chat.SendMessage(ctx, withToken(&chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_ChatId{ChatId: chatID}, ClientMsgId: uuid.NewString(), Text: "still there?"}, bob.token))
		if connect.CodeOf(err) != connect.CodeFailedPrecondition {
			return false, fmt.Errorf("send after removal: %w", err)
		}
		return true, nil
	})
	if h, err := c.chat.ListMessages(ctx, withToken(&chatv1.ListMessagesRequest{ChatId: chatID}, alice.token)); err != nil || len(h.Msg.GetMessages()) < 2 {
		t.Fatalf("history after removal: %v %v", h, err)
	}
}

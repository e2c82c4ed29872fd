package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/coder/websocket"
	"github.com/google/uuid"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	friendv1 "github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1"
	"github.com/parleyhq/parley/devstack/e2e/conversation"
	"github.com/parleyhq/parley/platform/logtest"
)

// frame is one server frame, decoded loosely: the scenarios look at a few fields of each type.
type frame = conversation.Frame

// socket is a client's WebSocket to a gateway, with its frames read into a channel.
type socket struct {
	conn   *websocket.Conn
	frames chan frame
	closed chan websocket.StatusCode
}

// connect opens /ws on the gateway at base with the token in the subprotocol list (viaFrame:
// in a first auth frame instead, as the two documented ways) and waits for "ready".
func connectWS(t *testing.T, base, token string, viaFrame bool) *socket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	protocols := []string{"parley.v1", "bearer." + token}
	if viaFrame {
		protocols = []string{"parley.v1"}
	}
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/ws"
	conn, res, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: protocols})
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	if err != nil {
		t.Fatalf("dial %s: %v", wsURL, err)
	}
	s := &socket{conn: conn, frames: make(chan frame, 256), closed: make(chan websocket.StatusCode, 1)}
	go func() {
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				s.closed <- websocket.CloseStatus(err)
				close(s.frames)
				return
			}
			var f frame
			if json.Unmarshal(data, &f) == nil {
				s.frames <- f
			}
		}
	}()
	t.Cleanup(func() { _ = conn.Close(websocket.StatusNormalClosure, "") })
	if viaFrame {
		s.send(t, map[string]any{"type": "auth", "token": token, "ref": "a1"})
	}
	s.expect(t, "ready", nil)
	return s
}

func (s *socket) send(t *testing.T, v any) {
	t.Helper()
	data, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.conn.Write(ctx, websocket.MessageText, data); err != nil {
		t.Fatalf("send %s: %v", data, err)
	}
}

// expect waits up to 5 s for a frame of the type that satisfies match, skipping others.
func (s *socket) expect(t *testing.T, typ string, match func(frame) bool) frame {
	t.Helper()
	return s.expectWithin(t, 5*time.Second, typ, match)
}

func (s *socket) expectWithin(t *testing.T, wait time.Duration, typ string, match func(frame) bool) frame {
	t.Helper()
	deadline := time.After(wait)
	var skipped []string
	for {
		select {
		case f, ok := <-s.frames:
			if !ok {
				t.Fatalf("socket closed while waiting for %q (skipped %v)", typ, skipped)
			}
			if f.Type() == typ && (match == nil || match(f)) {
				return f
			}
			skipped = append(skipped, f.Type())
		case <-deadline:
			t.Fatalf("no %q frame within %v (skipped %v)", typ, wait, skipped)
		}
	}
}

func (s *socket) expectClose(t *testing.T, code websocket.StatusCode) {
	t.Helper()
	select {
	case got := <-s.closed:
		if got != code {
			t.Fatalf("closed with %v, want %v", got, code)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("socket not closed within 5s (want %v)", code)
	}
}

func sendText(t *testing.T, c clients, from person, chatID, text string) *chatv1.Message {
	t.Helper()
	res, err := c.chat.SendMessage(context.Background(), withToken(&chatv1.SendMessageRequest{
		To: &chatv1.SendMessageRequest_ChatId{ChatId: chatID}, ClientMsgId: uuid.NewString(), Text: text}, from.token))
	if err != nil {
		t.Fatalf("send %q: %v", text, err)
	}
	return res.Msg.GetMessage()
}

// testRealtime: friend requests, acceptances, messages, read receipts, typing and notifications
// arrive live over WebSocket; a reconnecting client catches up without gaps; logout closes the
// session's sockets.
func testRealtime(t *testing.T) {
	ctx := context.Background()
	c := newClients()
	alice, bob := signUp(t, c, "alice"), signUp(t, c, "bob")
	aliceWS := connectWS(t, gatewayURL, alice.token, false)
	bobWS := connectWS(t, gatewayURL, bob.token, true)

	sent := eventually(t, "friend request", func() (*friendv1.SendFriendRequestResponse, error) {
		return msgOf(c.friend.SendFriendRequest(ctx, withToken(&friendv1.SendFriendRequestRequest{UserId: bob.id}, alice.token)))
	})
	bobWS.expect(t, "friend_request", func(f frame) bool { return f.Str("from_user_id") == alice.id })
	bobWS.expect(t, "notification", func(f frame) bool { return f.Num("unread_count") >= 1 })

	if _, err := c.friend.AcceptFriendRequest(ctx, withToken(&friendv1.AcceptFriendRequestRequest{RequestId: sent.GetRequest().GetRequestId()}, bob.token)); err != nil {
		t.Fatal(err)
	}
	aliceWS.expect(t, "friend_accepted", func(f frame) bool { return f.Str("accepter_id") == bob.id })

	first := eventually(t, "first message", func() (*chatv1.SendMessageResponse, error) {
		return msgOf(c.chat.SendMessage(ctx, withToken(&chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_UserId{UserId: bob.id}, ClientMsgId: uuid.NewString(), Text: "hello"}, alice.token)))
	}).GetMessage()
	chatID := first.GetChatId()
	start := time.Now()
	got := bobWS.expect(t, "message", func(f frame) bool { return f.Str("chat_id") == chatID && f.Num("seq") == first.GetSeq() })
	t.Logf("message reached the recipient's socket %v after SendMessage returned", time.Since(start))
	if got.Message().Str("text") != "hello" {
		t.Fatalf("message frame: %v", got)
	}
	aliceWS.expect(t, "message", func(f frame) bool { return f.Num("seq") == first.GetSeq() }) // the sender's devices too

	if _, err := c.chat.MarkRead(ctx, withToken(&chatv1.MarkReadRequest{ChatId: chatID, UpToSeq: first.GetSeq()}, bob.token)); err != nil {
		t.Fatal(err)
	}
	aliceWS.expect(t, "read", func(f frame) bool { return f.Str("reader_id") == bob.id && f.Num("up_to_seq") == first.GetSeq() })

	bobWS.send(t, map[string]any{"type": "typing", "chat_id": chatID})
	aliceWS.expect(t, "typing", func(f frame) bool { return f.Str("user_id") == bob.id && f.Str("chat_id") == chatID })

	// Bob goes away; Alice sends three messages; Bob comes back and catches up: the replay brings
	// them in order, without gaps. (Frames of those messages still on their way when Bob's new
	// socket subscribed may also arrive live, before the sync starts; the protocol lets clients
	// see a message twice and key it by seq, so only the replay's order is asserted.)
	_ = bobWS.conn.Close(websocket.StatusNormalClosure, "bye")
	var missed []int64
	for i := range 3 {
		missed = append(missed, sendText(t, c, alice, chatID, fmt.Sprintf("missed %d", i)).GetSeq())
	}
	bobWS = connectWS(t, gatewayURL, bob.token, false)
	bobWS.send(t, map[string]any{"type": "sync", "ref": "s1", "chats": []map[string]any{{"chat_id": chatID, "last_seq": first.GetSeq()}}})
	for _, seq := range missed {
		f := bobWS.expect(t, "message", func(f frame) bool { return f.Str("chat_id") == chatID && f["replay"] == true })
		if f.Num("seq") != seq {
			t.Fatalf("replayed message seq %d, want %d (in order, no gaps)", f.Num("seq"), seq)
		}
	}
	bobWS.expect(t, "sync_done", func(f frame) bool { return f.Str("chat_id") == chatID && f.Num("last_seq") == missed[2] })

	// Logging out closes that session's sockets.
	login, err := c.auth.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: alice.email, Password: "correct horse battery staple"}))
	if err != nil {
		t.Fatal(err)
	}
	session := connectWS(t, gatewayURL, login.Msg.GetTokens().GetAccessToken(), false)
	if _, err := c.auth.Logout(ctx, connect.NewRequest(&authv1.LogoutRequest{RefreshToken: login.Msg.GetTokens().GetRefreshToken()})); err != nil {
		t.Fatal(err)
	}
	session.expectClose(t, 4003)
	// Its access token, valid for minutes more, is refused at the gateway too.
	_, err = c.auth.GetMe(ctx, withToken(&authv1.GetMeRequest{}, login.Msg.GetTokens().GetAccessToken()))
	wantCode(t, err, connect.CodeUnauthenticated)
	// Alice's first session is still connected and still receives.
	sendText(t, c, bob, chatID, "are you there?")
	aliceWS.expect(t, "message", func(f frame) bool { return f.Message().Str("text") == "are you there?" })
}

// testTwoGateways runs a second gateway process beside the stack's, with the same configuration:
// a user on one gateway and their friend on the other still get each other's messages live.
func testTwoGateways(t *testing.T) {
	ctx := context.Background()
	second := startSecondGateway(t)
	c := newClients()
	alice, bob := signUp(t, c, "alice"), signUp(t, c, "bob")
	befriend(t, c, alice, bob)
	aliceWS := connectWS(t, gatewayURL, alice.token, false)
	bobWS := connectWS(t, second, bob.token, false)

	first := eventually(t, "first message", func() (*chatv1.SendMessageResponse, error) {
		return msgOf(c.chat.SendMessage(ctx, withToken(&chatv1.SendMessageRequest{To: &chatv1.SendMessageRequest_UserId{UserId: bob.id}, ClientMsgId: uuid.NewString(), Text: "across gateways"}, alice.token)))
	}).GetMessage()
	bobWS.expect(t, "message", func(f frame) bool { return f.Num("seq") == first.GetSeq() && f.Str("chat_id") == first.GetChatId() })
	reply := sendText(t, c, bob, first.GetChatId(), "got it")
	aliceWS.expect(t, "message", func(f frame) bool { return f.Num("seq") == reply.GetSeq() })
	bobWS.send(t, map[string]any{"type": "typing", "chat_id": first.GetChatId()})
	aliceWS.expect(t, "typing", func(f frame) bool { return f.Str("user_id") == bob.id })
}

// startSecondGateway starts the stack's gateway binary again on a free port with the stack's
// environment for the gateway, and returns its base URL.
func startSecondGateway(t *testing.T) string {
	t.Helper()
	env, err := stk.Env("gateway")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(stk.ServiceBinary("gateway"))
	// Its own port, and no admin listener: the stack's gateway has the one the environment names.
	cmd.Env = append(append(os.Environ(), env...), "LISTEN_ADDR="+addr, "ADMIN_ADDR=", "RATE_LIMIT_AUTH=10000")
	out := &logtest.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start a second gateway: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("second gateway output:\n%s", out.String())
		}
	})
	base := "http://" + addr
	eventually(t, "second gateway ready", func() (bool, error) {
		status, _ := httpStatus(base + "/healthz")
		if status != 200 {
			return false, errors.New("not up yet")
		}
		return true, nil
	})
	return base
}

package realtime_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/platform/waittest"

	"github.com/parleyhq/parley/services/gateway/internal/realtime"
)

func TestAuthBySubprotocol(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	g := e.startGateway(t)
	user := newUUID()
	c, err := dial(t, g.url, dialOpts{token: e.iss.Token(t, user)})
	if err != nil {
		t.Fatal(err)
	}
	// The gateway answers with parley.v1 and never echoes the token.
	wantEq(t, "Sec-WebSocket-Protocol", c.res.Header.Get("Sec-WebSocket-Protocol"), realtime.Subprotocol)
	ready := c.waitFor(t, "ready", isType(realtime.TypeReady))
	wantEq(t, "ready.user_id", ready.str("user_id"), user)
	wantEq(t, "ready.protocol", ready.str("protocol"), realtime.Subprotocol)
	wantEq(t, "ready.session_id", ready.str("session_id"), "session-"+user)
	if ready.str("expires_at") == "" || ready.obj("limits").num("send_buffer") != 256 {
		t.Fatalf("ready = %v", ready)
	}
	// The protocol works: ping → pong with the ref.
	c.send(t, map[string]any{"type": "ping", "ref": "p1"})
	c.waitFor(t, "pong", func(f frame) bool { return f.typ() == realtime.TypePong && f.str("ref") == "p1" })
	// Unknown frames get an error, and the connection stays.
	c.send(t, map[string]any{"type": "dance", "ref": "d1"})
	bad := c.waitFor(t, "error", isType(realtime.TypeError))
	if bad.str("code") != "invalid_argument" || bad.str("ref") != "d1" || !strings.Contains(bad.str("message"), "dance") {
		t.Fatalf("error = %v", bad)
	}
}

func TestAuthByFirstFrame(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	g := e.startGateway(t)
	user := newUUID()
	c, err := dial(t, g.url, dialOpts{})
	if err != nil {
		t.Fatal(err)
	}
	c.send(t, map[string]any{"type": "auth", "token": e.iss.Token(t, user), "ref": "hello"})
	ready := c.waitFor(t, "ready", isType(realtime.TypeReady))
	wantEq(t, "ready.user_id", ready.str("user_id"), user)
	wantEq(t, "ready.ref", ready.str("ref"), "hello")

	// A fresh token for the same user is taken mid-connection; another user's closes it.
	c.send(t, map[string]any{"type": "auth", "token": e.iss.Token(t, user, authntest.Session("session-"+user), authntest.TTL(time.Hour)), "ref": "again"})
	c.waitFor(t, "auth_ok", func(f frame) bool { return f.typ() == realtime.TypeAuthOK && f.str("ref") == "again" })
	c.send(t, map[string]any{"type": "auth", "token": e.iss.Token(t, newUUID())})
	wantEq(t, "close code", c.closed(t), realtime.CloseUnauthenticated)
}

func TestAuthRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{opts: func(o *realtime.Options) { o.AuthTimeout = 300 * time.Millisecond }})
	g := e.startGateway(t)
	other := authntest.New(t) // keys the gateway does not know

	t.Run("bad token in subprotocol", func(t *testing.T) {
		c, err := dial(t, g.url, dialOpts{token: other.Token(t, newUUID())})
		if err != nil {
			t.Fatal(err)
		}
		wantEq(t, "close code", c.closed(t), realtime.CloseUnauthenticated)
		if c.count(isType(realtime.TypeReady)) != 0 {
			t.Fatal("ready sent to an unauthenticated client")
		}
	})
	t.Run("expired token", func(t *testing.T) {
		c, err := dial(t, g.url, dialOpts{token: e.iss.Token(t, newUUID(), authntest.Session("s"), authntest.TTL(-time.Minute))})
		if err != nil {
			t.Fatal(err)
		}
		wantEq(t, "close code", c.closed(t), realtime.CloseUnauthenticated)
	})
	t.Run("bad token in first frame", func(t *testing.T) {
		c, err := dial(t, g.url, dialOpts{})
		if err != nil {
			t.Fatal(err)
		}
		c.send(t, map[string]any{"type": "auth", "token": "not-a-jwt"})
		wantEq(t, "close code", c.closed(t), realtime.CloseUnauthenticated)
	})
	t.Run("no auth frame in time", func(t *testing.T) {
		c, err := dial(t, g.url, dialOpts{})
		if err != nil {
			t.Fatal(err)
		}
		wantEq(t, "close code", c.closed(t), realtime.CloseUnauthenticated)
		if !strings.Contains(c.closeReason(), "auth frame") {
			t.Fatalf("reason = %q", c.closeReason())
		}
	})
	t.Run("first frame not auth", func(t *testing.T) {
		c, err := dial(t, g.url, dialOpts{})
		if err != nil {
			t.Fatal(err)
		}
		c.send(t, map[string]any{"type": "ping"})
		wantEq(t, "close code", c.closed(t), realtime.CloseUnauthenticated)
	})
	t.Run("foreign origin", func(t *testing.T) {
		c, err := dial(t, g.url, dialOpts{token: e.iss.Token(t, newUUID()), origin: "https://evil.example"})
		if err == nil {
			t.Fatal("a foreign origin was let in")
		}
		if c == nil || c.res.StatusCode != http.StatusForbidden {
			t.Fatalf("dial error %v, want HTTP 403", err)
		}
	})
	t.Run("no parley.v1 subprotocol", func(t *testing.T) {
		c, err := dial(t, g.url, dialOpts{protocols: []string{"chat.v9"}})
		if err == nil {
			t.Fatal("an unknown subprotocol was accepted")
		}
		if c == nil || c.res.StatusCode != http.StatusBadRequest {
			t.Fatalf("dial error %v, want HTTP 400", err)
		}
	})
	if n := g.hub.Connections(); n != 0 {
		t.Fatalf("%d refused connections were registered", n)
	}
}

// Two gateways share one Redis and one Kafka consumer group: user A on gw1, user B on gw2 (and
// A's second device on gw2). Events produced to Kafka reach every connection that must see them.
func TestEventsReachUsersOnEveryGateway(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{kafka: true})
	gw1, gw2 := e.startGateway(t), e.startGateway(t)
	a, b := newUUID(), newUUID()
	a1 := mustDial(t, gw1, e.iss.Token(t, a))
	a2 := mustDial(t, gw2, e.iss.Token(t, a, authntest.Session("phone")))
	b2 := mustDial(t, gw2, e.iss.Token(t, b))
	chatID := newUUID()

	start := time.Now()
	e.produce(t, topics.Chat, chatID, &eventsv1.MessageSent{
		ChatId: chatID, MessageId: newUUID(), Seq: 7, SenderId: a, RecipientId: b, Text: "hello B",
		ClientMsgId: "c-1", SentAt: timestamppb.Now(),
		Attachments: []*eventsv1.Attachment{{FileId: "f-1", Name: "cat.png", SizeBytes: 10, ContentType: "image/png"}},
	})
	isHello := func(f frame) bool { return f.typ() == realtime.TypeMessage && f.num("seq") == 7 }
	for name, c := range map[string]*client{"A on gw1": a1, "A on gw2": a2, "B on gw2": b2} {
		f := c.waitFor(t, "message for "+name, isHello)
		m := f.obj("message")
		if f.str("chat_id") != chatID || m.str("text") != "hello B" || m.str("sender_id") != a || m.str("seq") != "7" ||
			m.str("client_msg_id") != "c-1" || f.str("id") == "" {
			t.Fatalf("%s got %v", name, f)
		}
		if atts, _ := m["attachments"].([]any); len(atts) != 1 {
			t.Fatalf("%s: attachments %v", name, m["attachments"])
		}
	}
	t.Logf("first MessageSent reached all three connections %v after it was produced (includes the group join)", time.Since(start))

	// Once the group runs: each event kind to exactly its recipients.
	start = time.Now()
	e.produce(t, topics.Chat, chatID, &eventsv1.MessagesRead{ChatId: chatID, ReaderId: b, PeerId: a, UpToSeq: 7, ReadAt: timestamppb.Now()})
	read := a1.waitFor(t, "read receipt", isType(realtime.TypeRead))
	if read.str("reader_id") != b || read.num("up_to_seq") != 7 || read.str("chat_id") != chatID {
		t.Fatalf("read = %v", read)
	}
	t.Logf("MessagesRead reached the sender %v after it was produced", time.Since(start))
	b2.waitFor(t, "read on the reader's own connection", isType(realtime.TypeRead))

	e.produce(t, topics.Notification, b, &eventsv1.NotificationSent{
		NotificationId: newUUID(), UserId: b, Kind: "message", Title: "New message", Body: "hello B",
		UnreadCount: 3, SubjectId: chatID, CreatedAt: timestamppb.Now(),
	})
	n := b2.waitFor(t, "notification", isType(realtime.TypeNotification))
	if n.num("unread_count") != 3 || n.obj("notification").str("kind") != "message" || n.obj("notification").str("subject_id") != chatID {
		t.Fatalf("notification = %v", n)
	}

	reqID := newUUID()
	e.produce(t, topics.Friend, b, &eventsv1.FriendRequestSent{RequestId: reqID, FromUserId: a, ToUserId: b, FromNickname: "ann", SentAt: timestamppb.Now()})
	fr := b2.waitFor(t, "friend request", isType(realtime.TypeFriendRequest))
	if fr.str("request_id") != reqID || fr.str("from_user_id") != a || fr.str("from_nickname") != "ann" {
		t.Fatalf("friend_request = %v", fr)
	}

	e.produce(t, topics.Chat, chatID, &eventsv1.MessageEdited{ChatId: chatID, MessageId: "m7", Seq: 7, SenderId: a, RecipientId: b, Text: "hello, B"})
	e.produce(t, topics.Chat, chatID, &eventsv1.MessageDeleted{ChatId: chatID, MessageId: "m7", Seq: 7, SenderId: a, RecipientId: b})
	for _, c := range []*client{a1, b2} {
		if f := c.waitFor(t, "edit", isType(realtime.TypeMessageEdited)); f.str("text") != "hello, B" {
			t.Fatalf("edit = %v", f)
		}
		c.waitFor(t, "delete", isType(realtime.TypeMessageDeleted))
	}

	// A decline is not shown to the requester; the friend_removed frame only to the remover.
	e.produce(t, topics.Friend, a+":"+b, &eventsv1.FriendDeclined{RequestId: reqID, RequesterId: a, RecipientId: b})
	e.produce(t, topics.Friend, a+":"+b, &eventsv1.FriendRemoved{UserId: b, FriendUserId: a, Reason: "blocked"})
	b2.waitFor(t, "decline on the decliner's connection", isType(realtime.TypeFriendDeclined))
	b2.waitFor(t, "removal on the remover's connection", isType(realtime.TypeFriendRemoved))
	e.barrier(t, a1, a)
	if n := a1.count(isType(realtime.TypeFriendDeclined)) + a1.count(isType(realtime.TypeFriendRemoved)); n != 0 {
		t.Fatalf("the requester / blocked user was told: %v", a1.frames())
	}
	if a1.count(func(f frame) bool { return strings.HasPrefix(f.typ(), "_") }) != 0 {
		t.Fatalf("a control frame reached a client: %v", a1.frames())
	}
}

func TestTypingReachesOnlyTheParticipantPeer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{opts: func(o *realtime.Options) { o.TypingInterval = time.Hour }})
	gw1, gw2 := e.startGateway(t), e.startGateway(t)
	a, b, stranger := newUUID(), newUUID(), newUUID()
	chatID := e.chat.addChat(a, b, 0)
	ca := mustDial(t, gw1, e.iss.Token(t, a))
	cb := mustDial(t, gw2, e.iss.Token(t, b))
	cs := mustDial(t, gw2, e.iss.Token(t, stranger))

	ca.send(t, map[string]any{"type": "typing", "chat_id": chatID})
	typing := cb.waitFor(t, "typing", isType(realtime.TypeTyping))
	if typing.str("chat_id") != chatID || typing.str("user_id") != a {
		t.Fatalf("typing = %v", typing)
	}

	// A stranger cannot type into the chat: refused, relayed to nobody.
	cs.send(t, map[string]any{"type": "typing", "chat_id": chatID, "ref": "t1"})
	refused := cs.waitFor(t, "error", isType(realtime.TypeError))
	if refused.str("code") != "not_found" || refused.str("ref") != "t1" {
		t.Fatalf("stranger's typing answered %v", refused)
	}
	// A second indicator within the interval is dropped (rate limit), and A never sees its own.
	ca.send(t, map[string]any{"type": "typing", "chat_id": chatID})
	ca.send(t, map[string]any{"type": "ping", "ref": "after"})
	ca.waitFor(t, "pong", isType(realtime.TypePong))
	e.barrier(t, cb, b)
	e.barrier(t, ca, a)
	wantEq(t, "typing frames B got", cb.count(isType(realtime.TypeTyping)), 1)
	wantEq(t, "typing frames A got", ca.count(isType(realtime.TypeTyping)), 0)

	// Malformed ids are refused with a reason.
	ca.send(t, map[string]any{"type": "typing", "chat_id": "nope", "ref": "bad"})
	bad := ca.waitFor(t, "error", func(f frame) bool { return f.str("ref") == "bad" })
	if bad.str("code") != "invalid_argument" || !strings.Contains(bad.str("message"), "chat_id") {
		t.Fatalf("error = %v", bad)
	}
	// So is a field of the wrong JSON type, naming it, with the frame's ref; a frame that is not an
	// object has no ref to give back.
	ca.send(t, map[string]any{"type": "sync", "ref": "s1", "chats": []any{map[string]any{"chat_id": chatID, "last_seq": "41"}}})
	typed := ca.waitFor(t, "error", func(f frame) bool { return f.str("ref") == "s1" })
	if typed.str("code") != "invalid_argument" || typed.str("message") != "chats.last_seq: must be a whole number, got a JSON string" {
		t.Fatalf("error = %v", typed)
	}
	ca.send(t, []any{"sync"})
	notObject := ca.waitFor(t, "error", func(f frame) bool { return strings.HasPrefix(f.str("message"), "frame is not a JSON object") })
	if notObject.str("code") != "invalid_argument" || notObject.str("ref") != "" {
		t.Fatalf("error = %v", notObject)
	}
}

var millis = regexp.MustCompile(`^[0-9]{13}$`)

// readPresenceKey reads the contract key and checks its format: Unix milliseconds, decimal.
func (e *env) readPresenceKey(t *testing.T, user string) time.Time {
	t.Helper()
	v, err := e.redis.Do(t.Context(), e.redis.B().Get().Key("parley:presence:"+user).Build()).ToString()
	if err != nil {
		t.Fatalf("presence key of %s: %v", user, err)
	}
	if !millis.MatchString(v) {
		t.Fatalf("presence key = %q, want Unix milliseconds", v)
	}
	ms, _ := strconv.ParseInt(v, 10, 64)
	return time.UnixMilli(ms)
}

// presenceKeyGone reports whether user has no last-seen time in Redis.
func (e *env) presenceKeyGone(t *testing.T, user string) bool {
	t.Helper()
	_, kept := redistest.Get(t, e.redis, "parley:presence:"+user)
	return !kept
}

func TestPresenceIsForFriendsOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	gw1, gw2 := e.startGateway(t), e.startGateway(t)
	a, b, stranger := newUUID(), newUUID(), newUUID()
	e.friends.befriend(a, b)
	cb := mustDial(t, gw2, e.iss.Token(t, b))
	cs := mustDial(t, gw2, e.iss.Token(t, stranger))

	before := time.Now().Truncate(time.Millisecond)
	ca := mustDial(t, gw1, e.iss.Token(t, a))
	online := cb.waitFor(t, "A online", func(f frame) bool { return f.typ() == realtime.TypePresence && f.str("user_id") == a })
	if online["online"] != true || online.str("last_seen") == "" {
		t.Fatalf("presence = %v", online)
	}
	if seen := e.readPresenceKey(t, a); seen.Before(before) || seen.After(time.Now()) {
		t.Fatalf("last seen %v not between %v and now", seen, before)
	}
	e.barrier(t, cs, stranger)
	if cs.count(isType(realtime.TypePresence)) != 0 {
		t.Fatalf("a stranger saw presence: %v", cs.frames())
	}

	// Queries answer for friends only; everyone else is left out.
	cb.send(t, map[string]any{"type": "presence_query", "ref": "q", "user_ids": []string{a, stranger}})
	res := cb.waitFor(t, "presence_result", isType(realtime.TypePresenceResult))
	list, _ := res["presence"].([]any)
	if res.str("ref") != "q" || len(list) != 1 || frame(list[0].(map[string]any)).str("user_id") != a || list[0].(map[string]any)["online"] != true {
		t.Fatalf("friend's query = %v", res)
	}
	cs.send(t, map[string]any{"type": "presence_query", "user_ids": []string{a, b}})
	res = cs.waitFor(t, "presence_result", isType(realtime.TypePresenceResult))
	if list, _ := res["presence"].([]any); list == nil || len(list) != 0 {
		t.Fatalf("stranger's query = %v", res)
	}

	// The last connection closing makes A offline for B, with the time A was last seen.
	_ = ca.ws.Close(websocket.StatusNormalClosure, "bye")
	offline := cb.waitFor(t, "A offline", func(f frame) bool {
		return f.typ() == realtime.TypePresence && f.str("user_id") == a && f["online"] == false
	})
	lastSeen, err := time.Parse(time.RFC3339Nano, offline.str("last_seen"))
	if err != nil || lastSeen.Before(before) {
		t.Fatalf("offline presence = %v (%v)", offline, err)
	}
	if key := e.readPresenceKey(t, a); !key.Equal(lastSeen) {
		t.Fatalf("presence key %v, pushed last_seen %v", key, lastSeen)
	}
}

// A deleted account's last-seen time is forgotten, and stays forgotten: its sessions' revocations
// close its sockets, UserDeleted deletes the key, and neither the sockets' close nor the presence
// heartbeats after it write the key again.
func TestADeletedAccountsLastSeenTimeIsForgotten(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{kafka: true, opts: func(o *realtime.Options) { o.PresenceInterval = 50 * time.Millisecond }})
	gw := e.startGateway(t)
	a := newUUID()
	session := "deleted-" + newUUID()
	c := mustDial(t, gw, e.iss.Token(t, a, authntest.Session(session)))
	e.readPresenceKey(t, a) // written on connect
	e.produce(t, topics.Auth, a, &eventsv1.SessionRevoked{UserId: a, SessionId: session, Reason: "account_deleted", RevokedAt: timestamppb.Now()})
	e.produce(t, topics.Auth, a, &eventsv1.UserDeleted{UserId: a, DeletedAt: timestamppb.Now()})
	wantEq(t, "the deleted account's socket closed with", c.closed(t), realtime.CloseSessionRevoked)
	waittest.Until(t, "the last-seen time forgotten", func() bool { return e.presenceKeyGone(t, a) })
	time.Sleep(300 * time.Millisecond) // six heartbeats
	if !e.presenceKeyGone(t, a) {
		t.Fatal("the deleted account's last-seen time came back")
	}
}

func TestSessionRevokedClosesThatSessionsSockets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{kafka: true})
	gw1, gw2 := e.startGateway(t), e.startGateway(t)
	a := newUUID()
	laptopSession := "laptop-" + newUUID() // revocations outlive the test in the shared Redis
	laptop := e.iss.Token(t, a, authntest.Session(laptopSession))
	c1 := mustDial(t, gw1, laptop)
	c2 := mustDial(t, gw2, laptop)
	phone := mustDial(t, gw1, e.iss.Token(t, a, authntest.Session("phone-"+newUUID())))

	e.produce(t, topics.Auth, a, &eventsv1.SessionRevoked{UserId: a, SessionId: laptopSession, Reason: "logout", RevokedAt: timestamppb.Now()})
	wantEq(t, "laptop on gw1 closed with", c1.closed(t), realtime.CloseSessionRevoked)
	wantEq(t, "laptop on gw2 closed with", c2.closed(t), realtime.CloseSessionRevoked)

	// The other session stays connected and working.
	phone.send(t, map[string]any{"type": "ping", "ref": "still"})
	phone.waitFor(t, "pong", isType(realtime.TypePong))
	select {
	case <-phone.done:
		t.Fatalf("the phone session was closed: %v", phone.err)
	default:
	}

	// The revoked session's access token, still unexpired, cannot connect again.
	again, err := dial(t, gw2.url, dialOpts{token: laptop})
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "reconnect closed with", again.closed(t), realtime.CloseSessionRevoked)
}

func TestSyncReplaysMissedMessagesInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{opts: func(o *realtime.Options) { o.SyncMaxMessages = 150 }})
	g := e.startGateway(t)
	a, b := newUUID(), newUUID()
	small := e.chat.addChat(a, b, 5)
	paged := e.chat.addChat(a, b, 140) // more than one ListMessages page
	huge := e.chat.addChat(a, b, 400)
	notMine := e.chat.addChat(b, newUUID(), 3)
	c := mustDial(t, g, e.iss.Token(t, a))

	c.send(t, map[string]any{"type": "sync", "ref": "s1", "chats": []map[string]any{
		{"chat_id": small, "last_seq": 2},
		{"chat_id": paged, "last_seq": 0},
		{"chat_id": huge, "last_seq": 10},
		{"chat_id": notMine, "last_seq": 0},
	}})
	c.waitFor(t, "sync_complete", func(f frame) bool { return f.typ() == realtime.TypeSyncComplete && f.str("ref") == "s1" })

	seqs := func(chat string) []int64 {
		var out []int64
		for _, f := range c.frames() {
			if f.typ() == realtime.TypeMessage && f.str("chat_id") == chat {
				if f["replay"] != true || f.obj("message").str("message_id") == "" {
					t.Fatalf("replayed frame %v", f)
				}
				out = append(out, f.num("seq"))
			}
		}
		return out
	}
	wantSeqs := func(chat string, from, to int64) {
		t.Helper()
		got := seqs(chat)
		if int64(len(got)) != to-from+1 {
			t.Fatalf("chat got %d messages, want %d..%d", len(got), from, to)
		}
		for i, s := range got {
			if s != from+int64(i) {
				t.Fatalf("message %d has seq %d, want %d (order: %v)", i, s, from+int64(i), got)
			}
		}
	}
	wantSeqs(small, 3, 5)
	wantSeqs(paged, 1, 140)
	done := c.waitFor(t, "sync_done", func(f frame) bool { return f.typ() == realtime.TypeSyncDone && f.str("chat_id") == small })
	if done.num("last_seq") != 5 || done.num("sent") != 3 || done.str("ref") != "s1" {
		t.Fatalf("sync_done = %v", done)
	}
	req := c.waitFor(t, "sync_required", isType(realtime.TypeSyncRequired))
	if req.str("chat_id") != huge || req.num("from_seq") != 10 || req.num("last_seq") != 400 || len(seqs(huge)) != 0 {
		t.Fatalf("sync_required = %v (replayed %d)", req, len(seqs(huge)))
	}
	nf := c.waitFor(t, "error for a chat not mine", func(f frame) bool { return f.typ() == realtime.TypeError && f.str("chat_id") == notMine })
	wantEq(t, "code", nf.str("code"), "not_found")

	// A bad request names the field.
	c.send(t, map[string]any{"type": "sync", "ref": "s2", "chats": []map[string]any{{"chat_id": small, "last_seq": -1}}})
	bad := c.waitFor(t, "error", func(f frame) bool { return f.typ() == realtime.TypeError && f.str("ref") == "s2" })
	if bad.str("code") != "invalid_argument" || !strings.Contains(bad.str("message"), "chats[0].last_seq") {
		t.Fatalf("error = %v", bad)
	}
}

// A client that stops reading is disconnected when its send buffer fills, and nobody else waits
// for it.
func TestSlowConsumerIsDisconnectedWithoutBlockingOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{opts: func(o *realtime.Options) { o.SendBuffer = 8 }})
	g := e.startGateway(t)
	slowUser, fastUser := newUUID(), newUUID()
	slow, err := dial(t, g.url, dialOpts{token: e.iss.Token(t, slowUser), noRead: true})
	if err != nil {
		t.Fatal(err)
	}
	fast := mustDial(t, g, e.iss.Token(t, fastUser))
	// Wait until the slow client is registered (it reads nothing, so not through ready).
	waittest.Until(t, "the slow client registered", func() bool { return g.hub.Connections() >= 2 })

	// ~10 MB for the slow client: more than the socket buffers hold, so its writer blocks and the
	// 8-frame queue overflows.
	big := `{"type":"test_flood","pad":"` + strings.Repeat("x", 48<<10) + `"}`
	for range 200 {
		e.publishRaw(t, slowUser, []byte(big))
	}
	e.barrier(t, fast, fastUser) // delivered while the slow client is stuck

	waittest.Until(t, "the slow client disconnected", func() bool { return g.hub.SlowConsumerCloses() > 0 })
	// Reading now drains what was sent and ends with the close frame.
	go slow.read()
	if code := slow.closed(t); code != realtime.CloseSlowConsumer {
		t.Fatalf("slow client closed with %d (%v), want %d", code, slow.err, realtime.CloseSlowConsumer)
	}
	fast.send(t, map[string]any{"type": "ping", "ref": "alive"})
	fast.waitFor(t, "pong", isType(realtime.TypePong))
}

var _ = context.Background

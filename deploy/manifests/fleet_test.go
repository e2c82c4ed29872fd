package manifests_test

// The people, devices and checks of the podman fleet's scenarios: the ones of the dev stack's
// replicated end-to-end test (devstack/e2e/replicas_test.go, TestReplicas), which this module,
// outside the workspace, cannot import from a test file. Kept the same so that both paths to
// several replicas (podman here, processes there) check the same things.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/coder/websocket"
	"github.com/google/uuid"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1/authv1connect"
	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1/chatv1connect"
	friendv1 "github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1/friendv1connect"
	"github.com/parleyhq/parley/contracts/gen/go/parley/media/v1/mediav1connect"
	notificationv1 "github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1/notificationv1connect"
	profilev1 "github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1/profilev1connect"
)

// clients are the generated Connect clients pointed at the gateway, as a Go app would use them.
type clients struct {
	auth         authv1connect.AuthServiceClient
	profile      profilev1connect.ProfileServiceClient
	friend       friendv1connect.FriendServiceClient
	chat         chatv1connect.ChatServiceClient
	notification notificationv1connect.NotificationServiceClient
	media        mediav1connect.MediaServiceClient
}

func newClients(gateway string) clients {
	base := gateway + "/api"
	return clients{
		auth:         authv1connect.NewAuthServiceClient(http.DefaultClient, base),
		profile:      profilev1connect.NewProfileServiceClient(http.DefaultClient, base),
		friend:       friendv1connect.NewFriendServiceClient(http.DefaultClient, base),
		chat:         chatv1connect.NewChatServiceClient(http.DefaultClient, base),
		notification: notificationv1connect.NewNotificationServiceClient(http.DefaultClient, base),
		media:        mediav1connect.NewMediaServiceClient(http.DefaultClient, base),
	}
}

// person is a signed-up user whose profile exists.
type person struct {
	id, token, email, nickname string
}

func uniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func withToken[T any](msg *T, token string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	if token != "" {
		req.Header().Set("Authorization", "Bearer "+token)
	}
	return req
}

func msgOf[T any](res *connect.Response[T], err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

// eventually retries f until it succeeds or 30 s pass; events take a moment to flow.
func eventually[T any](t *testing.T, what string, f func() (T, error)) T {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := f()
		if err == nil {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after 30s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// signUp registers a person through the gateway (auth) and waits until their profile exists
// (UserRegistered through auth's outbox and Kafka to profile).
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
	got := eventually(t, nick+"'s profile", func() (*profilev1.GetProfileResponse, error) {
		return msgOf(c.profile.GetProfile(ctx, withToken(&profilev1.GetProfileRequest{}, p.token)))
	})
	if got.GetProfile().GetUserId() != p.id || got.GetProfile().GetNickname() != nick {
		t.Fatalf("%s's profile is %v", nick, got.GetProfile())
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

func notificationsOf(ctx context.Context, c clients, p person) ([]*notificationv1.Notification, error) {
	res, err := c.notification.ListNotifications(ctx, withToken(&notificationv1.ListNotificationsRequest{}, p.token))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetNotifications(), nil
}

func waitNotification(t *testing.T, c clients, p person, kind notificationv1.NotificationKind, subject string) *notificationv1.Notification {
	t.Helper()
	return eventually(t, fmt.Sprintf("%s notification for %s", kind, p.nickname), func() (*notificationv1.Notification, error) {
		list, err := notificationsOf(context.Background(), c, p)
		if err != nil {
			return nil, err
		}
		for _, n := range list {
			if n.GetKind() == kind && (subject == "" || n.GetSubjectId() == subject) {
				return n, nil
			}
		}
		return nil, fmt.Errorf("not yet among %d notifications", len(list))
	})
}

// listAll reads a chat's whole history, oldest first.
func listAll(t *testing.T, c clients, p person, chatID string) []*chatv1.Message {
	t.Helper()
	var out []*chatv1.Message
	for {
		from := int64(0)
		if len(out) > 0 {
			from = out[len(out)-1].GetSeq()
		}
		res, err := c.chat.ListMessages(context.Background(), withToken(&chatv1.ListMessagesRequest{
			ChatId: chatID, Direction: chatv1.PageDirection_PAGE_DIRECTION_NEWER, FromSeq: from, PageSize: 100}, p.token))
		if err != nil {
			t.Fatalf("list messages: %v", err)
		}
		out = append(out, res.Msg.GetMessages()...)
		if len(res.Msg.GetMessages()) < 100 {
			return out
		}
	}
}

// frame is one server frame, decoded loosely: the checks look at a few fields of each type.
type frame map[string]any

func (f frame) typ() string { s, _ := f["type"].(string); return s }

func (f frame) str(key string) string { s, _ := f[key].(string); return s }

func (f frame) num(key string) int64 {
	switch v := f[key].(type) {
	case float64:
		return int64(v)
	case string:
		var n int64
		_, _ = fmt.Sscan(v, &n)
		return n
	}
	return 0
}

func messageOf(f frame) frame {
	m, _ := f["message"].(map[string]any)
	return m
}

// sender sends messages into one chat one after another, as a person's app does: a send that
// fails (a service or gateway restarting under it) is retried with the same client_msg_id until
// it succeeds, so it is stored once; every tenth is sent a second time on purpose, which must
// answer the stored message.
type sender struct {
	c      clients
	from   person
	chatID string

	mu       sync.Mutex
	sent     []*chatv1.Message // as the chat service answered, in send order
	retried  int               // sends that failed at least once
	repeated int               // of those, sends whose retry was answered "duplicate"
	resent   int               // sends repeated on purpose
	errs     []string          // the errors retried, for the log
	err      error
}

func (s *sender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

func (s *sender) run(stop <-chan struct{}) {
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		case <-time.After(150 * time.Millisecond):
		}
		id := uuid.NewString()
		text := fmt.Sprintf("%s %d", s.from.nickname, n)
		m, failures, dup, err := s.send(id, text)
		if err == nil && n%10 == 9 {
			again, _, againDup, againErr := s.send(id, text)
			if err = againErr; err == nil && (!againDup || again.GetMessageId() != m.GetMessageId()) {
				err = fmt.Errorf("sending %q again answered %v (duplicate %v), want the stored %s", text, again, againDup, m.GetMessageId())
			}
		}
		s.mu.Lock()
		if err != nil {
			s.err = err
			s.mu.Unlock()
			return
		}
		s.sent = append(s.sent, m)
		if n%10 == 9 {
			s.resent++
		}
		if failures > 0 {
			s.retried++
			if dup {
				s.repeated++
			}
		}
		s.mu.Unlock()
	}
}

// send sends one message, retrying failures for up to 30 s with the same client_msg_id.
func (s *sender) send(id, text string) (*chatv1.Message, int, bool, error) {
	deadline := time.Now().Add(60 * time.Second)
	for failures := 0; ; failures++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := s.c.chat.SendMessage(ctx, withToken(&chatv1.SendMessageRequest{
			To: &chatv1.SendMessageRequest_ChatId{ChatId: s.chatID}, ClientMsgId: id, Text: text}, s.from.token))
		cancel()
		if err == nil {
			return res.Msg.GetMessage(), failures, res.Msg.GetDuplicate(), nil
		}
		switch connect.CodeOf(err) {
		case connect.CodeInvalidArgument, connect.CodeNotFound, connect.CodeFailedPrecondition, connect.CodePermissionDenied, connect.CodeUnauthenticated:
			return nil, failures, false, fmt.Errorf("send %q: %w", text, err) // retrying cannot help
		}
		s.mu.Lock()
		s.errs = append(s.errs, err.Error())
		s.mu.Unlock()
		if time.Now().After(deadline) {
			return nil, failures, false, fmt.Errorf("send %q: still failing after 60s: %w", text, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The newcomers: one every signUpEvery, at most maxNewcomers, since one person asks each to be a
// friend afterwards and the friend service allows 50 requests an hour (the pods' restart takes
// longer than the dev stack processes' in TestReplicas, which signs one up every 300 ms).
const (
	signUpEvery  = 500 * time.Millisecond
	maxNewcomers = 40
)

// signer signs new people up one after another, as new users do: a Register that fails is
// retried; AlreadyExists on a retry means the failed attempt had registered them, and they log
// in instead.
type signer struct {
	c clients

	mu      sync.Mutex
	people  []person
	retried int
	err     error
}

func (s *signer) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(signUpEvery):
		}
		s.mu.Lock()
		enough := len(s.people) >= maxNewcomers
		s.mu.Unlock()
		if enough {
			continue
		}
		p, failures, err := s.signUp(uniqueName("new"))
		s.mu.Lock()
		if err != nil {
			s.err = err
			s.mu.Unlock()
			return
		}
		s.people = append(s.people, p)
		if failures > 0 {
			s.retried++
		}
		s.mu.Unlock()
	}
}

func (s *signer) signUp(nick string) (person, int, error) {
	email, password := nick+"@example.com", "correct horse battery staple"
	deadline := time.Now().Add(60 * time.Second)
	for failures := 0; ; failures++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := s.c.auth.Register(ctx, connect.NewRequest(&authv1.RegisterRequest{Email: email, Password: password, Nickname: nick}))
		if err == nil {
			cancel()
			return person{id: res.Msg.GetUserId(), token: res.Msg.GetTokens().GetAccessToken(), email: email, nickname: nick}, failures, nil
		}
		if connect.CodeOf(err) == connect.CodeAlreadyExists && failures > 0 {
			login, lerr := s.c.auth.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: email, Password: password}))
			cancel()
			if lerr == nil {
				return person{id: login.Msg.GetUserId(), token: login.Msg.GetTokens().GetAccessToken(), email: email, nickname: nick}, failures, nil
			}
			err = lerr
		} else {
			cancel()
		}
		switch connect.CodeOf(err) {
		case connect.CodeInvalidArgument, connect.CodeAlreadyExists, connect.CodePermissionDenied, connect.CodeUnauthenticated:
			return person{}, failures, fmt.Errorf("sign up %s: %w", nick, err)
		}
		if time.Now().After(deadline) {
			return person{}, failures, fmt.Errorf("sign up %s: still failing after 60s: %w", nick, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// device is one person's app on a WebSocket: it keeps the messages of its chat by seq, resumes
// with sync after every reconnection (through the entry point), and checks what each connection
// delivers against the protocol (docs/realtime.md#catching-up-after-a-reconnect).
type device struct {
	p      person
	chatID string
	entry  string // the gateway's entry point (its balancer), where reconnections go
	ctx    context.Context
	cancel context.CancelFunc

	mu          sync.Mutex
	received    map[int64]string   // seq → message id
	receipts    map[int64][]string // seq → each receipt: connection, replay or live, event id
	connections int
	syncs       int                    // connections that got their sync_done and sync_complete
	cutShort    int                    // connections closed with 1001 before their sync completed
	closes      []websocket.StatusCode // how each connection that ended was closed
	problems    []string
	conn        *websocket.Conn
}

func newDevice(p person, chatID, entry string) *device {
	ctx, cancel := context.WithCancel(context.Background())
	return &device{p: p, chatID: chatID, entry: entry, ctx: ctx, cancel: cancel, received: map[int64]string{}, receipts: map[int64][]string{}}
}

func (d *device) problem(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.problems = append(d.problems, fmt.Sprintf(format, args...))
}

// contiguous is the highest seq up to which the device has every message.
func (d *device) contiguous() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var have int64
	for d.received[have+1] != "" {
		have++
	}
	return have
}

func (d *device) close() {
	d.cancel()
	d.mu.Lock()
	c := d.conn
	d.mu.Unlock()
	if c != nil {
		_ = c.Close(websocket.StatusNormalClosure, "")
	}
}

func (d *device) waitSynced(t *testing.T) {
	t.Helper()
	eventually(t, d.p.nickname+"'s first sync", func() (bool, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.syncs < 1 {
			return false, errors.New("not synced yet")
		}
		return true, nil
	})
}

// connect opens the first connection at base; the device then keeps itself connected.
func (d *device) connect(base string) error {
	conn, n, err := d.dial(base)
	if err != nil {
		return err
	}
	go d.loop(conn, n)
	return nil
}

func (d *device) dial(base string) (*websocket.Conn, int, error) {
	ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/ws"
	conn, res, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: []string{"parley.v1", "bearer." + d.p.token}})
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	if err != nil {
		return nil, 0, fmt.Errorf("dial %s: %w", wsURL, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.conn = conn
	d.connections++
	return conn, d.connections, nil
}

// loop serves one connection after another until the device is closed.
func (d *device) loop(conn *websocket.Conn, n int) {
	for {
		code := d.serve(conn, n)
		if d.ctx.Err() != nil {
			return
		}
		d.mu.Lock()
		d.closes = append(d.closes, code)
		d.mu.Unlock()
		// Reconnect at once through the entry point (another gateway answers), retrying while
		// the balancer has nobody to hand the connection to.
		deadline := time.Now().Add(30 * time.Second)
		for {
			var err error
			conn, n, err = d.dial(d.entry)
			if err == nil {
				break
			}
			if d.ctx.Err() != nil {
				return
			}
			if time.Now().After(deadline) {
				d.problem("could not reconnect for 30s: %v", err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// serve reads one connection until it ends: ready, then sync from what the device has, then the
// frames, checking the replay and the live frames after sync_done run seq by seq. It returns how
// the connection was closed.
func (d *device) serve(conn *websocket.Conn, n int) websocket.StatusCode {
	read := func() (frame, error) {
		_, data, err := conn.Read(d.ctx)
		if err != nil {
			return nil, err
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			return nil, fmt.Errorf("frame %q: %w", data, err)
		}
		return f, nil
	}
	const (
		waitReady = iota
		replaying
		live
	)
	state, next := waitReady, int64(0) // next: the seq the next replayed or live frame must have
	for {
		f, err := read()
		if err != nil {
			code := websocket.CloseStatus(err)
			switch {
			case state == live || d.ctx.Err() != nil:
			case code == websocket.StatusGoingAway:
				// Its gateway stopped too (the next replica's restart began while this
				// connection was syncing): the next connection syncs.
				d.mu.Lock()
				d.cutShort++
				d.mu.Unlock()
			default:
				d.problem("connection %d ended before its sync completed: %v", n, err)
			}
			return code
		}
		switch f.typ() {
		case "ready":
			have := d.contiguous()
			next = have + 1
			state = replaying
			data, _ := json.Marshal(map[string]any{"type": "sync", "ref": "s", "chats": []map[string]any{{"chat_id": d.chatID, "last_seq": have}}})
			if err := conn.Write(d.ctx, websocket.MessageText, data); err != nil {
				return websocket.CloseStatus(err)
			}
		case "message":
			if f.str("chat_id") != d.chatID {
				d.problem("a message of another chat: %v", f)
				continue
			}
			seq, id := f.num("seq"), messageOf(f).str("message_id")
			replay := f["replay"] == true
			kind := map[bool]string{true: "replayed", false: "live"}[replay]
			d.mu.Lock()
			d.receipts[seq] = append(d.receipts[seq], fmt.Sprintf("connection %d %s event %s at %s", n, kind, f.str("id"), time.Now().Format("15:04:05.000")))
			receipts := slices.Clone(d.receipts[seq])
			d.mu.Unlock()
			switch {
			case state == replaying && replay, state == live && !replay:
				if seq != next {
					d.problem("connection %d: %s frame with seq %d, want %d (a gap or a repeat); seq %d's receipts: %v", n, kind, seq, next, seq, receipts)
				}
				next = seq + 1
			case state == live && replay:
				d.problem("connection %d: a replayed frame (seq %d) after sync_done", n, seq)
			}
			// Live frames before the sync is answered may repeat what the replay brings; the
			// protocol lets a client see those twice and key them by seq.
			d.mu.Lock()
			if prev := d.received[seq]; prev != "" && prev != id {
				d.problems = append(d.problems, fmt.Sprintf("seq %d is message %s and %s", seq, prev, id))
			}
			d.received[seq] = id
			d.mu.Unlock()
		case "sync_done":
			if state != replaying || f.num("last_seq") != next-1 {
				d.problem("connection %d: sync_done at seq %d after replaying up to %d", n, f.num("last_seq"), next-1)
			}
			state = live
		case "sync_complete":
			d.mu.Lock()
			d.syncs++
			d.mu.Unlock()
		case "sync_required", "error", "resync":
			d.problem("connection %d: unexpected %v", n, f)
		}
	}
}

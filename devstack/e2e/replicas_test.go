package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/coder/websocket"
	"github.com/google/uuid"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	friendv1 "github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1"
	notificationv1 "github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1"
	profilev1 "github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1"
	"github.com/parleyhq/parley/devstack/stack"
	"github.com/parleyhq/parley/devstack/stack/stacktest"
)

// TestReplicas runs the stack with two processes of every service, each service's pair behind
// the dev stack's balancer on its usual port (as a Kubernetes Service would put them), drives a
// representative part of the end-to-end scenarios through it, and then restarts every service,
// one replica at a time, while people keep talking (testRollingRestart).
func TestReplicas(t *testing.T) {
	stk = stacktest.Start(t, stack.Options{
		Replicas: 2,
		// A stopping replica stays in its balancer's rotation for a moment after its stop signal,
		// as a pod's endpoint does in a Kubernetes rolling update: callers meet refused
		// connections and must retry.
		RotationLag: 500 * time.Millisecond,
		// As TestEndToEnd; and the senders of the rolling restart send more than a person's
		// per-minute budget (the limit is tested in the gateway's own suite).
		Environ: func() []string {
			return append(os.Environ(), "RATE_LIMIT_AUTH=10000", "RATE_LIMIT_USER=100000", "JANITOR_INTERVAL=2s")
		},
	})
	gatewayURL = stk.GatewayURL()
	t.Cleanup(func() { stk, gatewayURL = nil, "" })
	t.Logf("stack up with %d replicas of every service: gateway %s", stk.Replicas(), gatewayURL)

	t.Run("AuthAndProfileWithGeneratedClients", testAuthAndProfileWithGeneratedClients)
	t.Run("OAuthDevLogin", testOAuthDevLogin)
	t.Run("Sessions", testSessions)
	t.Run("Passkeys", testPasskeys)
	t.Run("FriendsChatAndNotifications", testFriendsChatAndNotifications)
	t.Run("Realtime", testRealtime)
	t.Run("RollingRestart", testRollingRestart)
}

// testRollingRestart: three pairs of friends chat, each person on a WebSocket (one of each pair
// on each gateway replica, so every message crosses gateways through Kafka and Redis), each
// person sending every 150 ms and retrying a failed send with the same client_msg_id until it
// succeeds. Meanwhile every service is restarted replica by replica (stop gracefully, start,
// wait until ready, then the other; a stopping replica stays in its balancer's rotation for
// RotationLag, so some calls are refused and retried). Afterwards:
//
//   - each chat holds exactly the messages the senders were told were sent: seq 1..N without a
//     gap, each client_msg_id once (a retried send stored once), each sender's in send order;
//   - every person's device received every message of their chat, the one stored under that seq;
//   - on every WebSocket connection, the sync replay and the live frames after its sync_done run
//     seq by seq without a gap or a repeat (a gateway that did not fan out an event, a consumer
//     group that skipped or re-sent one, would show here);
//   - every connection a gateway restart closed was closed with 1001 (going away), and every
//     device reconnected through the entry point and resumed with sync;
//   - each person's message notification counts exactly the messages their friend sent (the
//     notification service's consumer group lost and repeated nothing);
//   - everyone who signed up meanwhile (one every 300 ms, a failed Register retried) has a
//     profile, can be asked to be a friend, and gets exactly one notification of that (auth's
//     events reached profile, friend and notification once);
//   - no service crashed (the stack stops on a crash).
func testRollingRestart(t *testing.T) {
	ctx := context.Background()
	c := newClients()
	const pairs = 3
	var people []person
	for range pairs * 2 {
		people = append(people, signUp(t, c, "roll"))
	}
	chats := make([]string, pairs)
	for i := range pairs {
		a, b := people[2*i], people[2*i+1]
		befriend(t, c, a, b)
		chats[i] = eventually(t, "a chat", func() (*chatv1.GetChatResponse, error) {
			return msgOf(c.chat.GetChat(ctx, withToken(&chatv1.GetChatRequest{By: &chatv1.GetChatRequest_UserId{UserId: b.id}}, a.token)))
		}).GetChat().GetChatId()
	}

	// One device per person, the first of each pair on gateway replica 1, the second on replica
	// 2; reconnections go through the entry point, as an app's would.
	devices := make([]*device, len(people))
	for i, p := range people {
		devices[i] = newDevice(p, chats[i/2])
		if err := devices[i].connect(stk.ReplicaURL("gateway", 1+i%2)); err != nil {
			t.Fatalf("%s: %v", p.nickname, err)
		}
		t.Cleanup(devices[i].close)
	}
	for _, d := range devices {
		d.waitSynced(t)
	}

	senders := make([]*sender, len(people))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, p := range people {
		senders[i] = &sender{c: c, from: p, chatID: chats[i/2]}
		wg.Add(1)
		go func() {
			defer wg.Done()
			senders[i].run(stop)
		}()
	}
	// Meanwhile new people sign up (auth → UserRegistered → profile, friend, notification).
	newcomers := &signer{c: c}
	wg.Add(1)
	go func() {
		defer wg.Done()
		newcomers.run(stop)
	}()
	// Everyone has sent a few before the first restart.
	for _, s := range senders {
		eventually(t, "the first messages", func() (bool, error) {
			if s.count() < 3 {
				return false, errors.New("fewer than 3 sent")
			}
			return true, nil
		})
	}

	begin := time.Now()
	for _, name := range stk.Services() {
		for i := 1; i <= stk.Replicas(); i++ {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			err := stk.RestartReplica(rctx, name, i)
			cancel()
			if err != nil {
				close(stop)
				wg.Wait()
				t.Fatalf("restart %s replica %d: %v", name, i, err)
			}
		}
	}
	t.Logf("rolling restart of %v took %s", stk.Services(), time.Since(begin).Round(100*time.Millisecond))
	// A few more messages after the last restart, through the restarted fleet.
	marks := make([]int, len(senders))
	for i, s := range senders {
		marks[i] = s.count()
	}
	for i, s := range senders {
		eventually(t, "messages after the restart", func() (bool, error) {
			if s.count() < marks[i]+3 {
				return false, errors.New("not yet 3 more")
			}
			return true, nil
		})
	}
	close(stop)
	wg.Wait()

	total, retried, repeated, resent := 0, 0, 0, 0
	for _, s := range senders {
		if s.err != nil {
			t.Fatalf("%s could not send: %v", s.from.nickname, s.err)
		}
		total += len(s.sent)
		retried += s.retried
		repeated += s.repeated
		resent += s.resent
	}
	t.Logf("%d messages sent; %d sends failed during a restart and were retried, %d of those had been stored (answered duplicate); %d sent twice on purpose",
		total, retried, repeated, resent)
	for _, s := range senders {
		for _, e := range s.errs {
			t.Logf("%s retried after: %s", s.from.nickname, e)
			// A replica is ready only once it holds the auth keys, so restarting auth later
			// must not leave a restarted gateway or service unable to verify tokens.
			if strings.Contains(e, "cannot verify access token") {
				t.Errorf("%s's send was refused for want of the auth keys: %s", s.from.nickname, e)
			}
		}
	}

	// The stored history: seq 1..N, each message once, each sender's in order.
	for i, chatID := range chats {
		a, b := senders[2*i], senders[2*i+1]
		history := listAll(t, c, a.from, chatID)
		want := map[string]*chatv1.Message{}
		for _, m := range append(slices.Clone(a.sent), b.sent...) {
			want[m.GetClientMsgId()] = m
		}
		if len(history) != len(want) {
			t.Errorf("chat %d holds %d messages; the senders were told of %d", i, len(history), len(want))
		}
		for j, m := range history {
			if m.GetSeq() != int64(j+1) {
				t.Fatalf("chat %d: message %d has seq %d (a gap or a repeat)", i, j+1, m.GetSeq())
			}
			w, ok := want[m.GetClientMsgId()]
			if !ok || w.GetMessageId() != m.GetMessageId() || w.GetSeq() != m.GetSeq() {
				t.Fatalf("chat %d: stored message %v is not the one a sender was told of (%v)", i, m, w)
			}
			delete(want, m.GetClientMsgId())
		}
		for _, s := range []*sender{a, b} {
			for j := 1; j < len(s.sent); j++ {
				if s.sent[j].GetSeq() <= s.sent[j-1].GetSeq() {
					t.Errorf("%s's messages out of send order: seq %d after %d", s.from.nickname, s.sent[j].GetSeq(), s.sent[j-1].GetSeq())
				}
			}
		}

		// Every device of the chat gets everything, and every connection saw it without gaps.
		last := history[len(history)-1].GetSeq()
		for _, d := range []*device{devices[2*i], devices[2*i+1]} {
			eventually(t, d.p.nickname+"'s device catching up", func() (bool, error) {
				if have := d.contiguous(); have != last {
					return false, fmt.Errorf("has up to seq %d of %d", have, last)
				}
				return true, nil
			})
			d.mu.Lock()
			for _, m := range history {
				if got := d.received[m.GetSeq()]; got != m.GetMessageId() {
					t.Errorf("%s: seq %d is message %q on the device, %q stored", d.p.nickname, m.GetSeq(), got, m.GetMessageId())
				}
			}
			for _, problem := range d.problems {
				t.Errorf("%s: %s", d.p.nickname, problem)
			}
			if d.connections < 2 || d.syncs+d.cutShort != d.connections {
				t.Errorf("%s: %d connections, %d resumed with sync, %d closed by a stopping gateway while syncing; want every other one synced, and a reconnection after its gateway restarted",
					d.p.nickname, d.connections, d.syncs, d.cutShort)
			}
			for _, code := range d.closes {
				if code != websocket.StatusGoingAway {
					t.Errorf("%s: a connection closed with %v, want 1001 (going away) from a gateway that stops", d.p.nickname, code)
				}
			}
			d.mu.Unlock()
		}

		// Each person's message notification counts exactly their friend's messages.
		for _, pair := range [][2]*sender{{a, b}, {b, a}} {
			to, from := pair[0].from, pair[1]
			eventually(t, to.nickname+"'s message notification", func() (bool, error) {
				list, err := notificationsOf(ctx, c, to)
				if err != nil {
					return false, err
				}
				for _, n := range list {
					if n.GetKind() == notificationv1.NotificationKind_NOTIFICATION_KIND_MESSAGE && n.GetSubjectId() == chatID {
						if int(n.GetCount()) != len(from.sent) {
							return false, fmt.Errorf("counts %d messages, %s sent %d", n.GetCount(), from.from.nickname, len(from.sent))
						}
						return true, nil
					}
				}
				return false, fmt.Errorf("none among %d notifications", len(list))
			})
		}
	}
	// Everyone who signed up during the restart has a profile and can be asked to be a friend,
	// and is notified of that once (no consumer group lost or repeated their events).
	newcomers.mu.Lock()
	joined, failed, signErr := slices.Clone(newcomers.people), newcomers.retried, newcomers.err
	newcomers.mu.Unlock()
	if signErr != nil {
		t.Fatalf("signing up during the restart: %v", signErr)
	}
	if len(joined) < 3 {
		t.Fatalf("only %d people signed up during the restart", len(joined))
	}
	t.Logf("%d people signed up during the restart (%d sign-ups retried)", len(joined), failed)
	host := people[0]
	for _, p := range joined {
		eventually(t, p.nickname+"'s profile", func() (bool, error) {
			_, err := c.profile.GetProfile(ctx, withToken(&profilev1.GetProfileRequest{}, p.token))
			return err == nil, err
		})
		eventually(t, "a friend request to "+p.nickname, func() (bool, error) {
			_, err := c.friend.SendFriendRequest(ctx, withToken(&friendv1.SendFriendRequestRequest{UserId: p.id}, host.token))
			return err == nil, err
		})
	}
	for _, p := range joined {
		n := waitNotification(t, c, p, notificationv1.NotificationKind_NOTIFICATION_KIND_FRIEND_REQUEST, "")
		list, err := notificationsOf(ctx, c, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 {
			t.Errorf("%s has %d notifications, want the one friend request %v", p.nickname, len(list), n)
		}
	}

	for _, name := range stk.Services() {
		if n := stk.Restarts(name); n != 0 {
			t.Errorf("%s crashed %d times", name, n)
		}
	}
	if counts := stk.BalancedConnections("gateway"); len(counts) != 2 || counts[0] == 0 || counts[1] == 0 {
		t.Errorf("the gateway's balancer handed out connections %v, want some to each replica", counts)
	}
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
	deadline := time.Now().Add(30 * time.Second)
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
			return nil, failures, false, fmt.Errorf("send %q: still failing after 30s: %w", text, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

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
		case <-time.After(300 * time.Millisecond):
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
	deadline := time.Now().Add(30 * time.Second)
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
			return person{}, failures, fmt.Errorf("sign up %s: still failing after 30s: %w", nick, err)
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

func newDevice(p person, chatID string) *device {
	ctx, cancel := context.WithCancel(context.Background())
	return &device{p: p, chatID: chatID, ctx: ctx, cancel: cancel, received: map[int64]string{}, receipts: map[int64][]string{}}
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
			conn, n, err = d.dial(gatewayURL)
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

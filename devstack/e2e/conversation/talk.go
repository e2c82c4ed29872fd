package conversation

import (
	"context"
	"errors"
	"fmt"
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
)

// Talk is the conversation under way: a sender for every person, and the newcomers.
type Talk struct {
	s         *Scenario
	senders   []*sender
	newcomers *signer
	stop      chan struct{}
	once      sync.Once
	wg        sync.WaitGroup
}

// Start starts the conversation: people[2i] and people[2i+1] talk in chats[i], and newcomers
// sign up meanwhile (auth → UserRegistered → profile, friend, notification). It returns once
// every sender has sent a few messages. Stop ends it; a cleanup of t stops it too.
func (s *Scenario) Start(t testing.TB, people []Person, chats []string) *Talk {
	t.Helper()
	k := &Talk{s: s, newcomers: &signer{s: s}, stop: make(chan struct{})}
	for i, p := range people {
		snd := &sender{s: s, from: p, chatID: chats[i/2]}
		k.senders = append(k.senders, snd)
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			snd.run(k.stop)
		}()
	}
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		k.newcomers.run(k.stop)
	}()
	t.Cleanup(k.Stop)
	// Everyone has sent a few before the first restart.
	for _, snd := range k.senders {
		s.eventually(t, "the first messages", func() (bool, error) {
			if snd.count() < 3 {
				return false, errors.New("fewer than 3 sent")
			}
			return true, nil
		})
	}
	return k
}

// Stop stops the senders and the newcomers and waits for them; it may be called again.
func (k *Talk) Stop() {
	k.once.Do(func() { close(k.stop) })
	k.wg.Wait()
}

// SendMore waits until every sender has sent 3 more messages than when it was called (through
// the restarted fleet), then stops the conversation.
func (k *Talk) SendMore(t testing.TB) {
	t.Helper()
	marks := make([]int, len(k.senders))
	for i, snd := range k.senders {
		marks[i] = snd.count()
	}
	for i, snd := range k.senders {
		k.s.eventually(t, "messages after the restart", func() (bool, error) {
			if snd.count() < marks[i]+3 {
				return false, errors.New("not yet 3 more")
			}
			return true, nil
		})
	}
	k.Stop()
}

// Check checks, once the conversation has stopped, what the senders were told against the
// stored history, the devices (devices[j] is people[j]'s) and the notifications; and that every
// newcomer has a profile, can be asked to be a friend by host and is notified of that once.
func (k *Talk) Check(t testing.TB, devices []*Device, chats []string, host Person) {
	t.Helper()
	k.Stop()
	k.checkConversations(t, devices, chats)
	k.checkNewcomers(t, host)
}

func (k *Talk) checkConversations(t testing.TB, devices []*Device, chats []string) {
	t.Helper()
	k.checkSends(t)
	for i, chatID := range chats {
		a, b := k.senders[2*i], k.senders[2*i+1]
		history := k.checkHistory(t, i, chatID, a, b)
		// Every device of the chat gets everything, and every connection saw it without gaps.
		for _, d := range []*Device{devices[2*i], devices[2*i+1]} {
			k.checkDevice(t, d, history)
		}
		// Each person's message notification counts exactly their friend's messages.
		for _, pair := range [][2]*sender{{a, b}, {b, a}} {
			k.checkMessageNotification(t, chatID, pair[0].from, pair[1])
		}
	}
}

// checkSends logs what the senders met, and fails if one could not send or was refused for
// want of the auth keys.
func (k *Talk) checkSends(t testing.TB) {
	t.Helper()
	total, retried, repeated, resent := 0, 0, 0, 0
	for _, s := range k.senders {
		if s.err != nil {
			t.Fatalf("%s could not send: %v", s.from.Nickname, s.err)
		}
		total += len(s.sent)
		retried += s.retried
		repeated += s.repeated
		resent += s.resent
	}
	t.Logf("%d messages sent; %d sends failed during a restart and were retried, %d of those had been stored (answered duplicate); %d sent twice on purpose",
		total, retried, repeated, resent)
	for _, s := range k.senders {
		for _, e := range s.errs {
			t.Logf("%s retried after: %s", s.from.Nickname, e)
			// A replica is ready only once it holds the auth keys, so restarting auth later
			// must not leave a restarted gateway or service unable to verify tokens.
			if strings.Contains(e, "cannot verify access token") {
				t.Errorf("%s's send was refused for want of the auth keys: %s", s.from.Nickname, e)
			}
		}
	}
}

// checkHistory checks chat i's stored history — seq 1..N, each message once, each sender's in
// order — and returns it.
func (k *Talk) checkHistory(t testing.TB, i int, chatID string, a, b *sender) []*chatv1.Message {
	t.Helper()
	history := k.s.ListAll(t, a.from, chatID)
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
				t.Errorf("%s's messages out of send order: seq %d after %d", s.from.Nickname, s.sent[j].GetSeq(), s.sent[j-1].GetSeq())
			}
		}
	}
	return history
}

// checkDevice checks that d caught up with the whole history, holds each message under its seq,
// saw every connection run seq by seq, resumed with sync after each reconnection, and had its
// connections closed only by stopping gateways.
func (k *Talk) checkDevice(t testing.TB, d *Device, history []*chatv1.Message) {
	t.Helper()
	last := history[len(history)-1].GetSeq()
	k.s.eventually(t, d.p.Nickname+"'s device catching up", func() (bool, error) {
		if have := d.Contiguous(); have != last {
			return false, fmt.Errorf("has up to seq %d of %d", have, last)
		}
		return true, nil
	})
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range history {
		if got := d.received[m.GetSeq()]; got != m.GetMessageId() {
			t.Errorf("%s: seq %d is message %q on the device, %q stored", d.p.Nickname, m.GetSeq(), got, m.GetMessageId())
		}
	}
	for _, problem := range d.problems {
		t.Errorf("%s: %s", d.p.Nickname, problem)
	}
	if d.connections < 2 || d.syncs+d.cutShort != d.connections {
		t.Errorf("%s: %d connections, %d resumed with sync, %d closed by a stopping gateway while syncing; want every other one synced, and a reconnection after its gateway restarted",
			d.p.Nickname, d.connections, d.syncs, d.cutShort)
	}
	for _, code := range d.closes {
		if code != websocket.StatusGoingAway {
			t.Errorf("%s: a connection closed with %v, want 1001 (going away) from a gateway that stops", d.p.Nickname, code)
		}
	}
}

// checkMessageNotification checks that to's message notification of chatID counts exactly the
// messages from sent.
func (k *Talk) checkMessageNotification(t testing.TB, chatID string, to Person, from *sender) {
	t.Helper()
	k.s.eventually(t, to.Nickname+"'s message notification", func() (bool, error) {
		list, err := k.s.Notifications(context.Background(), to)
		if err != nil {
			return false, err
		}
		for _, n := range list {
			if n.GetKind() == notificationv1.NotificationKind_NOTIFICATION_KIND_MESSAGE && n.GetSubjectId() == chatID {
				if int(n.GetCount()) != len(from.sent) {
					return false, fmt.Errorf("counts %d messages, %s sent %d", n.GetCount(), from.from.Nickname, len(from.sent))
				}
				return true, nil
			}
		}
		return false, fmt.Errorf("none among %d notifications", len(list))
	})
}

// checkNewcomers: everyone who signed up during the restart has a profile and can be asked to be
// a friend, and is notified of that once (no consumer group lost or repeated their events).
func (k *Talk) checkNewcomers(t testing.TB, host Person) {
	t.Helper()
	ctx := context.Background()
	c := k.s.Clients
	k.newcomers.mu.Lock()
	joined, failed, signErr := slices.Clone(k.newcomers.people), k.newcomers.retried, k.newcomers.err
	k.newcomers.mu.Unlock()
	if signErr != nil {
		t.Fatalf("signing up during the restart: %v", signErr)
	}
	if len(joined) < 3 {
		t.Fatalf("only %d people signed up during the restart", len(joined))
	}
	t.Logf("%d people signed up during the restart (%d sign-ups retried)", len(joined), failed)
	for _, p := range joined {
		k.s.eventually(t, p.Nickname+"'s profile", func() (bool, error) {
			_, err := c.Profile.GetProfile(ctx, WithToken(&profilev1.GetProfileRequest{}, p.Token))
			return err == nil, err
		})
		k.s.eventually(t, "a friend request to "+p.Nickname, func() (bool, error) {
			_, err := c.Friend.SendFriendRequest(ctx, WithToken(&friendv1.SendFriendRequestRequest{UserId: p.ID}, host.Token))
			return err == nil, err
		})
	}
	for _, p := range joined {
		n := k.s.WaitNotification(t, p, notificationv1.NotificationKind_NOTIFICATION_KIND_FRIEND_REQUEST, "")
		list, err := k.s.Notifications(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 {
			t.Errorf("%s has %d notifications, want the one friend request %v", p.Nickname, len(list), n)
		}
	}
}

// sender sends messages into one chat one after another, as a person's app does: a send that
// fails (a service or gateway restarting under it) is retried with the same client_msg_id until
// it succeeds, so it is stored once; every tenth is sent a second time on purpose, which must
// answer the stored message.
type sender struct {
	s      *Scenario
	from   Person
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
		text := fmt.Sprintf("%s %d", s.from.Nickname, n)
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

// send sends one message, retrying failures for up to SendRetry with the same client_msg_id.
func (s *sender) send(id, text string) (*chatv1.Message, int, bool, error) {
	deadline := time.Now().Add(s.s.SendRetry)
	for failures := 0; ; failures++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := s.s.Clients.Chat.SendMessage(ctx, WithToken(&chatv1.SendMessageRequest{
			To: &chatv1.SendMessageRequest_ChatId{ChatId: s.chatID}, ClientMsgId: id, Text: text}, s.from.Token))
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
			return nil, failures, false, fmt.Errorf("send %q: still failing after %s: %w", text, s.s.SendRetry, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// signer signs new people up one after another, as new users do: a Register that fails is
// retried; AlreadyExists on a retry means the failed attempt had registered them, and they log
// in instead.
type signer struct {
	s *Scenario

	mu      sync.Mutex
	people  []Person
	retried int
	err     error
}

func (s *signer) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(s.s.SignUpEvery):
		}
		s.mu.Lock()
		enough := s.s.MaxNewcomers > 0 && len(s.people) >= s.s.MaxNewcomers
		s.mu.Unlock()
		if enough {
			continue
		}
		p, failures, err := s.signUp(UniqueName("new"))
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

func (s *signer) signUp(nick string) (Person, int, error) {
	email, password := nick+"@example.com", "correct horse battery staple"
	auth := s.s.Clients.Auth
	deadline := time.Now().Add(s.s.SendRetry)
	for failures := 0; ; failures++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := auth.Register(ctx, connect.NewRequest(&authv1.RegisterRequest{Email: email, Password: password, Nickname: nick}))
		if err == nil {
			cancel()
			return Person{ID: res.Msg.GetUserId(), Token: res.Msg.GetTokens().GetAccessToken(), Email: email, Nickname: nick}, failures, nil
		}
		if connect.CodeOf(err) == connect.CodeAlreadyExists && failures > 0 {
			login, lerr := auth.Login(ctx, connect.NewRequest(&authv1.LoginRequest{Email: email, Password: password}))
			cancel()
			if lerr == nil {
				return Person{ID: login.Msg.GetUserId(), Token: login.Msg.GetTokens().GetAccessToken(), Email: email, Nickname: nick}, failures, nil
			}
			err = lerr
		} else {
			cancel()
		}
		switch connect.CodeOf(err) {
		case connect.CodeInvalidArgument, connect.CodeAlreadyExists, connect.CodePermissionDenied, connect.CodeUnauthenticated:
			return Person{}, failures, fmt.Errorf("sign up %s: %w", nick, err)
		}
		if time.Now().After(deadline) {
			return Person{}, failures, fmt.Errorf("sign up %s: still failing after %s: %w", nick, s.s.SendRetry, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

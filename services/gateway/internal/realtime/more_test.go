package realtime_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/redis/rueidis"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/platform/waittest"

	"github.com/parleyhq/parley/services/gateway/internal/realtime"
)

// Live frames of a chat that arrive while the chat is being replayed wait for the replay, and
// the messages the replay already had are not sent twice.
func TestSyncHoldsLiveFramesOfTheChatUntilTheReplayEnds(t *testing.T) {
	t.Parallel()
	checkSyncHoldsLiveFrames(t, func(id string) string { return id })
}

// A chat id in upper case is the same chat: its live frames (which carry the lower-case id) are
// held all the same, so the client sees no duplicate and nothing out of order.
func TestSyncWithAnUpperCaseChatIDHoldsLiveFramesAllTheSame(t *testing.T) {
	t.Parallel()
	checkSyncHoldsLiveFrames(t, strings.ToUpper)
}

// checkSyncHoldsLiveFrames syncs a chat, written by spell in the sync frame, while live frames of
// the chat arrive, and checks what the client gets and in which order.
func checkSyncHoldsLiveFrames(t *testing.T, spell func(chatID string) string) {
	t.Helper()
	e := newEnv(t, envConfig{})
	e.chat.listing = make(chan struct{}, 1)
	e.chat.release = make(chan struct{})
	g := e.startGateway(t)
	a, b := newUUID(), newUUID()
	chatID := e.chat.addChat(a, b, 3)
	c := mustDial(t, g, e.iss.Token(t, a))

	c.send(t, map[string]any{"type": "sync", "chats": []map[string]any{{"chat_id": spell(chatID), "last_seq": 1}}})
	select { // the replay has read the chat and is fetching its messages
	case <-e.chat.listing:
	case <-time.After(wait):
		t.Fatalf("the sync did not list the chat's messages; got %s", c.summary())
	}
	m4 := e.chat.add(chatID, b)
	live := func(seq int64) []byte {
		return fmt.Appendf(nil, `{"type":"message","chat_id":%q,"seq":%d,"message":{"seq":"%d"}}`, chatID, seq, seq)
	}
	e.publishRaw(t, a, live(3)) // already in the replay
	e.publishRaw(t, a, live(m4.GetSeq()))
	e.publishRaw(t, a, live(m4.GetSeq()+1)) // newer than anything the replay will read
	e.publishRaw(t, a, []byte(`{"type":"test_marker","mark":"other chats flow meanwhile"}`))
	c.waitFor(t, "a frame of another kind during the replay", func(f frame) bool { return f.str("mark") != "" })
	close(e.chat.release)
	c.waitFor(t, "sync_complete", isType(realtime.TypeSyncComplete))
	c.waitFor(t, "live message 5", func(f frame) bool { return f.num("seq") == 5 })

	var order []string
	for _, f := range c.frames() {
		if f.typ() == realtime.TypeMessage || f.typ() == realtime.TypeSyncDone {
			order = append(order, fmt.Sprintf("%s:%d:%v", f.typ(), f.num("seq"), f["replay"] == true))
		}
	}
	// The replay ends at 4 (ListMessages saw message 4), so the live copies of 3 and 4 are
	// dropped; 5 follows the replay.
	want := "message:2:true message:3:true message:4:true sync_done:0:false message:5:false"
	if got := strings.Join(order, " "); got != want {
		t.Fatalf("frames %q, want %q", got, want)
	}
}

// Live frames of messages a sync has already replayed can reach the connection after the sync
// has ended: the fan-out stalls while a gateway restarts and its consumer group rebalances, the
// client reconnects elsewhere and syncs from the chat service, then the stalled events flow. They
// are dropped, as are repeats of live frames (a redelivered event): after sync_done the client
// gets each message once, in seq order.
func TestLateLiveFramesOfReplayedMessagesAreNotSentAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	g := e.startGateway(t)
	a, b := newUUID(), newUUID()
	chatID := e.chat.addChat(a, b, 3)
	c := mustDial(t, g, e.iss.Token(t, a))
	live := func(seq int64) []byte {
		return fmt.Appendf(nil, `{"type":"message","chat_id":%q,"seq":%d,"message":{"seq":"%d"}}`, chatID, seq, seq)
	}
	c.send(t, map[string]any{"type": "sync", "chats": []map[string]any{{"chat_id": chatID, "last_seq": 1}}})
	c.waitFor(t, "sync_complete", isType(realtime.TypeSyncComplete))
	for _, seq := range []int64{2, 3, 4, 4, 3, 5} { // late copies of the replay, then new ones with a repeat
		e.publishRaw(t, a, live(seq))
	}
	// Frames of other types are not messages of the chat: a read receipt up to 3 passes.
	e.publishRaw(t, a, fmt.Appendf(nil, `{"type":"read","chat_id":%q,"up_to_seq":3}`, chatID))
	e.publishRaw(t, a, []byte(`{"type":"test_marker","mark":"end"}`))
	c.waitFor(t, "the marker", func(f frame) bool { return f.str("mark") == "end" })

	var order []string
	for _, f := range c.frames() {
		switch f.typ() {
		case realtime.TypeMessage:
			order = append(order, fmt.Sprintf("message:%d:%v", f.num("seq"), f["replay"] == true))
		case realtime.TypeSyncDone, "read":
			order = append(order, f.typ())
		}
	}
	want := "message:2:true message:3:true sync_done message:4:false message:5:false read"
	if got := strings.Join(order, " "); got != want {
		t.Fatalf("frames %q, want %q", got, want)
	}
}

func TestConnectionLimitPerUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{opts: func(o *realtime.Options) { o.MaxConnsPerUser = 2 }})
	gw1, gw2 := e.startGateway(t), e.startGateway(t)
	a := newUUID()
	mustDial(t, gw1, e.iss.Token(t, a))
	second := mustDial(t, gw2, e.iss.Token(t, a))
	third, err := dial(t, gw1.url, dialOpts{token: e.iss.Token(t, a)})
	if err != nil {
		t.Fatal(err)
	}
	wantEq(t, "third connection closed with", third.closed(t), realtime.CloseTooManyConnections)
	// The limit counts live connections across gateways: one closing frees a place.
	_ = second.ws.CloseNow()
	waittest.UntilNil(t, "a place freed", func() error {
		c, err := dial(t, gw1.url, dialOpts{token: e.iss.Token(t, a)})
		if err != nil {
			t.Fatal(err)
		}
		if c.waitForAny(t, isType(realtime.TypeReady)) == nil {
			return fmt.Errorf("closed with %d", c.closed(t))
		}
		return nil
	})
}

func TestExpiredTokenClosesTheConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	g := e.startGateway(t)
	a := newUUID()
	c := mustDial(t, g, e.iss.Token(t, a, authntest.Session("s-"+newUUID()), authntest.TTL(1500*time.Millisecond)))
	wantEq(t, "closed with", c.closed(t), realtime.CloseTokenExpired)
}

// When the subscription connection to Redis breaks, the gateway reconnects, subscribes again
// and tells its clients to sync (frames published meanwhile are lost); delivery goes on.
func TestRedisSubscriptionLossAsksClientsToResync(t *testing.T) {
	t.Parallel()
	name := "rt-test-" + newUUID()
	e := newEnv(t, envConfig{})
	e.redisFor = func(t *testing.T) rueidis.Client {
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{redistest.Addr()}, ClientName: name, DisableCache: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	g := e.startGateway(t)
	a := newUUID()
	c := mustDial(t, g, e.iss.Token(t, a))

	list, err := e.redis.Do(t.Context(), e.redis.B().ClientList().Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for line := range strings.SplitSeq(list, "\n") {
		if !strings.Contains(line, " name="+name+" ") || strings.Contains(line, " sub=0 ") {
			continue // not the gateway's, or not its subscription connection
		}
		for field := range strings.FieldsSeq(line) {
			if v, ok := strings.CutPrefix(field, "id="); ok {
				id, _ := strconv.ParseInt(v, 10, 64)
				if err := e.redis.Do(t.Context(), e.redis.B().ClientKill().Id(id).Build()).Error(); err != nil {
					t.Fatal(err)
				}
				killed++
			}
		}
	}
	if killed != 1 {
		t.Fatalf("found %d subscription connections of the gateway:\n%s", killed, list)
	}
	c.waitFor(t, "resync", isType(realtime.TypeResync))
	e.barrier(t, c, a) // subscribed again
}

func TestShutdownClosesWithGoingAway(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	g := e.startGateway(t)
	c := mustDial(t, g, e.iss.Token(t, newUUID()))
	g.stop()
	wantEq(t, "closed with", c.closed(t), realtime.CloseGoingAway)
}

// Friendship changes keep presence to friends: a new friend sees the other's presence at once;
// after a removal (a block here) the former friend is told nothing, not even presence.
func TestFriendshipChangesWhoSeesPresence(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{kafka: true})
	gw1, gw2 := e.startGateway(t), e.startGateway(t)
	a, b, c := newUUID(), newUUID(), newUUID()
	e.friends.befriend(a, c) // c stays a friend of a throughout: the witness
	ca := mustDial(t, gw1, e.iss.Token(t, a))
	cb := mustDial(t, gw2, e.iss.Token(t, b))
	cc := mustDial(t, gw2, e.iss.Token(t, c))

	e.friends.befriend(a, b)
	e.produce(t, topics.Friend, a+":"+b, &eventsv1.FriendAccepted{RequestId: newUUID(), RequesterId: a, AccepterId: b, AcceptedAt: timestamppb.Now()})
	ca.waitFor(t, "friend_accepted", isType(realtime.TypeFriendAccepted))
	cb.waitFor(t, "friend_accepted", isType(realtime.TypeFriendAccepted))
	p := cb.waitFor(t, "A's presence for the new friend", func(f frame) bool {
		return f.typ() == realtime.TypePresence && f.str("user_id") == a
	})
	if p["online"] != true {
		t.Fatalf("presence = %v", p)
	}

	// A blocks B: A's devices see friend_removed; B sees nothing, and no longer A's presence.
	e.produce(t, topics.Friend, a+":"+b, &eventsv1.FriendRemoved{UserId: a, FriendUserId: b, Reason: "blocked", RemovedAt: timestamppb.Now()})
	ca.waitFor(t, "friend_removed", isType(realtime.TypeFriendRemoved))
	e.barrier(t, cb, b) // the removal's frames for B, if any, came before
	_ = ca.ws.Close(1000, "bye")
	cc.waitFor(t, "A offline for the remaining friend", func(f frame) bool {
		return f.typ() == realtime.TypePresence && f.str("user_id") == a && f["online"] == false
	})
	e.barrier(t, cb, b)
	for _, f := range cb.frames() {
		switch {
		case f.typ() == realtime.TypeFriendRemoved, strings.HasPrefix(f.typ(), "_"):
			t.Fatalf("the blocked user was told: %v", f)
		case f.typ() == realtime.TypePresence && f["online"] == false:
			t.Fatalf("the blocked user saw A go offline: %v", f)
		}
	}
}

// TestRedeliveredEventReachesClientsOnce: Kafka redelivers records after a broker or gateway
// restart; the same event (same ce_id) produced twice must reach a connection once.
func TestRedeliveredEventReachesClientsOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{kafka: true})
	gw := e.startGateway(t)
	a, b := newUUID(), newUUID()
	bc := mustDial(t, gw, e.iss.Token(t, b))
	chatID, eventID := newUUID(), newUUID()
	sent := &eventsv1.MessageSent{ChatId: chatID, MessageId: newUUID(), Seq: 1, SenderId: a, RecipientId: b, Text: "once", SentAt: timestamppb.Now()}
	e.produceAs(t, eventID, topics.Chat, chatID, sent)
	bc.waitFor(t, "the message", isType(realtime.TypeMessage))
	e.produceAs(t, eventID, topics.Chat, chatID, sent) // the redelivery
	// A later event on the same partition (same key) is handled after the redelivery.
	e.produce(t, topics.Chat, chatID, &eventsv1.MessageSent{ChatId: chatID, MessageId: newUUID(), Seq: 2, SenderId: a, RecipientId: b, Text: "next", SentAt: timestamppb.Now()})
	bc.waitFor(t, "the next message", func(f frame) bool { return f.typ() == realtime.TypeMessage && f.num("seq") == 2 })
	if n := bc.count(func(f frame) bool { return f.typ() == realtime.TypeMessage && f.num("seq") == 1 }); n != 1 {
		t.Fatalf("seq 1 reached the client %d times, want once: %v", n, bc.frames())
	}
}

// Revoked-session checks are answered from the gateway's client-side cache after the first one;
// Redis invalidates that entry when another gateway marks the session revoked, so the next check
// sees it at once rather than when the cached answer would have expired (a minute).
func TestRevocationMarkedElsewhereReachesTheCachedCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	e.redisFor = func(t *testing.T) rueidis.Client {
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{redistest.Addr()}, CacheSizeEachConn: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	g := e.startGateway(t)
	session := "cached-" + newUUID()
	for range 2 { // the second answer comes from the cache
		if revoked, err := g.revocations.Revoked(t.Context(), session); err != nil || revoked {
			t.Fatalf("a live session: revoked=%v, %v", revoked, err)
		}
	}
	// Another gateway's fan-out marks it (the key format is the hub's; see store.go).
	if err := e.redis.Do(t.Context(), e.redis.B().Set().Key("parley:rt:revoked:"+session).Value("1").Ex(time.Minute).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		revoked, err := g.revocations.Revoked(t.Context(), session)
		if err != nil {
			t.Fatal(err)
		}
		if revoked {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the revocation was not seen within 2s: the cached answer was not invalidated")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nobodyVerifier refuses every token (the hub below is never dialled).
type nobodyVerifier struct{}

func (nobodyVerifier) VerifyToken(context.Context, string) (authn.Principal, *connect.Error) {
	return authn.Principal{}, connect.NewError(connect.CodeUnauthenticated, nil)
}

// A hub without the gateway's one Revocations would check and remember revocations the API path
// and the fan-out never see, so New refuses to build one rather than make its own.
func TestNewRequiresTheSharedRevocations(t *testing.T) {
	t.Parallel()
	opts := realtime.Options{
		Logger: slog.New(slog.DiscardHandler), Redis: func() rueidis.Client { return nil },
		Verifier: nobodyVerifier{}, Chat: &fakeChat{}, Friends: &fakeFriends{},
	}
	if _, err := realtime.New(opts); err == nil || !strings.Contains(err.Error(), "revocations") {
		t.Fatalf("New without Revocations = %v; want an error naming them", err)
	}
	sharedRevocations(t, &opts)
	if _, err := realtime.New(opts); err != nil {
		t.Fatalf("New with Revocations: %v", err)
	}
}

// The hub reads the gateway's one Redis client through Options.Redis and keeps none of its own:
// without it there is nothing to read.
func TestNewRequiresTheRedisSource(t *testing.T) {
	t.Parallel()
	opts := realtime.Options{
		Logger: slog.New(slog.DiscardHandler), Verifier: nobodyVerifier{}, Chat: &fakeChat{}, Friends: &fakeFriends{},
	}
	if _, err := realtime.New(opts); err == nil || !strings.Contains(err.Error(), "redis") {
		t.Fatalf("New without Redis = %v; want an error naming it", err)
	}
}

package realtime_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/coder/websocket"
	"github.com/redis/rueidis"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1/chatv1connect"
	friendv1 "github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1/friendv1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/platform/server"

	"github.com/parleyhq/parley/services/gateway/internal/fanout"
	"github.com/parleyhq/parley/services/gateway/internal/gateway"
	"github.com/parleyhq/parley/services/gateway/internal/realtime"
	"github.com/parleyhq/parley/services/gateway/internal/sessions"
	"github.com/parleyhq/parley/services/gateway/internal/upstreamtest"
)

// testOrigin is the browser origin the test gateways allow.
const testOrigin = "http://app.test"

// wait bounds every wait for something that must happen. Delivery is expected well within a
// second; the bound is generous so a loaded CI machine does not fail the suite.
const wait = 15 * time.Second

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func testLogger() *slog.Logger {
	if os.Getenv("REALTIME_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// fakeChat stands in for the chat service (services/chat, another module): chats between two
// users with numbered messages, GetChat and ListMessages (NEWER) as the contract describes them,
// answering only the participants (NotFound otherwise), behind the real token check.
type fakeChat struct {
	chatv1connect.UnimplementedChatServiceHandler
	mu    sync.Mutex
	chats map[string]*fakeRoom
	gets  int // GetChat calls
	lists int // ListMessages calls
	// listing, when set, receives a value when ListMessages starts and ListMessages then waits
	// for release: a test can act while a sync is half done.
	listing chan struct{}
	release chan struct{}
}

type fakeRoom struct {
	id, a, b string
	canSend  bool
	msgs     []*chatv1.Message
}

// add appends a message from sender to a chat and returns it.
func (f *fakeChat) add(chatID, sender string) *chatv1.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.appendLocked(f.chats[chatID], sender)
}

// addChat creates a chat between a and b with n messages and returns its id.
func (f *fakeChat) addChat(a, b string, n int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := &fakeRoom{id: newUUID(), a: a, b: b, canSend: true}
	for range n {
		f.appendLocked(r, a)
	}
	f.chats[r.id] = r
	return r.id
}

func (f *fakeChat) appendLocked(r *fakeRoom, sender string) *chatv1.Message {
	seq := int64(len(r.msgs) + 1)
	m := &chatv1.Message{MessageId: newUUID(), ChatId: r.id, Seq: seq, SenderId: sender, Text: "m" + strconv.FormatInt(seq, 10)}
	r.msgs = append(r.msgs, m)
	return m
}

func (f *fakeChat) room(ctx context.Context, chatID string) (*fakeRoom, string, error) {
	user := authn.UserID(ctx)
	// Ids are UUIDs, compared as Postgres compares them: in any case.
	r := f.chats[strings.ToLower(chatID)]
	if r == nil || (user != r.a && user != r.b) {
		return nil, "", connect.NewError(connect.CodeNotFound, errors.New("chat not found"))
	}
	peer := r.a
	if user == r.a {
		peer = r.b
	}
	return r, peer, nil
}

// calls returns how many GetChat and ListMessages calls reached the stand-in.
func (f *fakeChat) calls() (gets, lists int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets, f.lists
}

func (f *fakeChat) GetChat(ctx context.Context, req *connect.Request[chatv1.GetChatRequest]) (*connect.Response[chatv1.GetChatResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	r, peer, err := f.room(ctx, req.Msg.GetChatId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&chatv1.GetChatResponse{Chat: &chatv1.Chat{
		ChatId: r.id, Peer: &chatv1.ChatPeer{UserId: peer}, LastSeq: int64(len(r.msgs)), CanSend: r.canSend,
	}}), nil
}

func (f *fakeChat) ListMessages(ctx context.Context, req *connect.Request[chatv1.ListMessagesRequest]) (*connect.Response[chatv1.ListMessagesResponse], error) {
	if f.listing != nil {
		f.listing <- struct{}{}
		<-f.release
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	r, _, err := f.room(ctx, req.Msg.GetChatId())
	if err != nil {
		return nil, err
	}
	if req.Msg.GetDirection() != chatv1.PageDirection_PAGE_DIRECTION_NEWER {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("the stand-in only walks NEWER"))
	}
	from := req.Msg.GetFromSeq()
	if tok := req.Msg.GetPageToken(); tok != "" {
		if from, err = strconv.ParseInt(tok, 10, 64); err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("page_token: not from this method"))
		}
	}
	size := int(req.Msg.GetPageSize())
	if size == 0 {
		size = 50
	}
	if size < 1 || size > 100 {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("page_size: 1 to 100"))
	}
	res := &chatv1.ListMessagesResponse{}
	for _, m := range r.msgs {
		if m.GetSeq() > from && len(res.Messages) < size {
			res.Messages = append(res.Messages, m)
		}
	}
	if n := len(res.Messages); n > 0 && res.Messages[n-1].GetSeq() < int64(len(r.msgs)) {
		res.NextPageToken = strconv.FormatInt(res.Messages[n-1].GetSeq(), 10)
	}
	return connect.NewResponse(res), nil
}

// fakeFriends stands in for the friend service (services/friend, another module): ListFriends
// over a fixed friendship set, behind the real token check.
type fakeFriends struct {
	friendv1connect.UnimplementedFriendServiceHandler
	mu      sync.Mutex
	friends map[string][]string
}

func (f *fakeFriends) befriend(a, b string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.friends[a] = append(f.friends[a], b)
	f.friends[b] = append(f.friends[b], a)
}

func (f *fakeFriends) ListFriends(ctx context.Context, _ *connect.Request[friendv1.ListFriendsRequest]) (*connect.Response[friendv1.ListFriendsResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	res := &friendv1.ListFriendsResponse{}
	for _, id := range f.friends[authn.UserID(ctx)] {
		res.Friends = append(res.Friends, &friendv1.Friend{User: &friendv1.UserSummary{UserId: id}})
	}
	return connect.NewResponse(res), nil
}

// env is the world the gateways live in: a token issuer, chat and friend stand-ins, Redis, and
// (when asked) a Kafka-protocol broker.
type env struct {
	iss     *authntest.TokenIssuer
	chat    *fakeChat
	friends *fakeFriends
	chatURL string
	friURL  string
	redis   rueidis.Client
	brokers []string
	// producer, with Kafka, writes the events produce publishes.
	producer *kgo.Client
	group    string
	opts     func(*realtime.Options)
	// redisFor, when set, gives each gateway its own Redis client.
	redisFor func(t *testing.T) rueidis.Client
}

type envConfig struct {
	kafka bool
	opts  func(*realtime.Options)
}

func newEnv(t *testing.T, cfg envConfig) *env {
	t.Helper()
	e := &env{
		iss:     authntest.New(t),
		chat:    &fakeChat{chats: map[string]*fakeRoom{}},
		friends: &fakeFriends{friends: map[string][]string{}},
		redis:   redistest.New(t),
		group:   "gateway-realtime-test-" + newUUID(),
		opts:    cfg.opts,
	}
	logger := slog.New(slog.DiscardHandler)
	handlerOpts := server.HandlerOptions(logger, nil, authn.NewInterceptor(e.iss.RemoteVerifier(t)))
	e.chatURL = upstreamtest.Start(t, slog.New(slog.DiscardHandler), func(s *server.Server) {
		s.Mount(chatv1connect.NewChatServiceHandler(e.chat, handlerOpts...))
	})
	e.friURL = upstreamtest.Start(t, slog.New(slog.DiscardHandler), func(s *server.Server) {
		s.Mount(friendv1connect.NewFriendServiceHandler(e.friends, handlerOpts...))
	})
	if cfg.kafka {
		_, e.brokers = kafkatest.New(t)
		e.producer = kafkatest.Producer(t, e.brokers)
	}
	return e
}

// gw is one gateway process: the gateway's echo server with the hub at /ws and, with Kafka, its
// member of the shared consumer group.
type gw struct {
	hub *realtime.Hub
	// revocations are the revoked sessions the hub and the fan-out share.
	revocations *sessions.Revocations
	url         string // ws://host:port/ws
	stop        func() // shuts the gateway down (also done when the test ends)
	// stopHub shuts only the hub down (as at the start of a gateway's shutdown) while the HTTP
	// server still accepts upgrades; hubDone is closed when the hub's Run has returned.
	stopHub func()
	hubDone chan struct{}
}

func (e *env) startGateway(t *testing.T) *gw {
	t.Helper()
	logger := testLogger()
	var ups []gateway.Upstream
	for name, u := range map[string]string{"chat": e.chatURL, "friend": e.friURL} {
		up, err := gateway.NewUpstream(name, u)
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, up)
	}
	g, err := gateway.New(gateway.Options{
		Logger: logger, Upstreams: ups, Verifier: e.iss.RemoteVerifier(t), CORSAllowedOrigins: []string{testOrigin},
	})
	if err != nil {
		t.Fatal(err)
	}
	redis := e.redis
	if e.redisFor != nil {
		redis = e.redisFor(t)
	}
	httpClient := &http.Client{Transport: server.H2CTransport()}
	opts := realtime.Options{
		Logger:         logger,
		Redis:          func() rueidis.Client { return redis },
		Verifier:       g,
		Chat:           chatv1connect.NewChatServiceClient(httpClient, e.chatURL, connect.WithGRPC()),
		Friends:        friendv1connect.NewFriendServiceClient(httpClient, e.friURL, connect.WithGRPC()),
		AllowedOrigins: []string{testOrigin},
	}
	if e.opts != nil {
		e.opts(&opts)
	}
	revocations := sharedRevocations(t, &opts)
	hub, err := realtime.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	g.Echo().GET(realtime.Path, hub.Serve)

	ctx, cancel := context.WithCancel(context.Background())
	hubCtx, stopHub := context.WithCancel(ctx)
	hubDone := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { defer close(hubDone); hub.Run(hubCtx) })
	if e.brokers != nil {
		e.runFanout(ctx, t, &wg, events.ConsumerConfig{Group: e.group},
			fanout.Options{Logger: logger, Redis: opts.Redis, Revocations: revocations})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { _ = g.Serve(ctx, ln, gateway.ServerOptions{ShutdownTimeout: time.Second}) })
	stop := sync.OnceFunc(func() {
		cancel()
		wg.Wait()
		httpClient.CloseIdleConnections()
	})
	t.Cleanup(stop)
	return &gw{hub: hub, revocations: revocations, url: "ws://" + ln.Addr().String() + realtime.Path, stop: stop, stopHub: stopHub, hubDone: hubDone}
}

// runFanout starts a gateway's fan-out consumer in wg, until ctx ends: cfg gets the env's brokers,
// the fan-out's topics, opts' logger and a short fetch wait.
func (e *env) runFanout(ctx context.Context, t *testing.T, wg *sync.WaitGroup, cfg events.ConsumerConfig, opts fanout.Options) {
	t.Helper()
	cfg.Brokers, cfg.Topics, cfg.Logger = e.brokers, fanout.Topics, opts.Logger
	cfg.ClientOpts = append(cfg.ClientOpts, kgo.FetchMaxWait(200*time.Millisecond))
	consumer, err := events.NewConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := fanout.Register(consumer, opts); err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { _ = consumer.Run(ctx) })
}

// sharedRevocations gives the hub options the revoked sessions the fan-out marks, as run.go
// shares one instance between them, unless the test gave its own.
func sharedRevocations(t *testing.T, opts *realtime.Options) *sessions.Revocations {
	t.Helper()
	if opts.Revocations == nil {
		rev, err := sessions.New(sessions.Options{Redis: opts.Redis, RedisTimeout: opts.RedisTimeout})
		if err != nil {
			t.Fatal(err)
		}
		opts.Revocations = rev
	}
	return opts.Revocations
}

// produce publishes msg the way platform/events' relay does: protobuf value, the given key and
// CloudEvents binary-mode headers.
func (e *env) produce(t *testing.T, topic, key string, msg proto.Message) string {
	t.Helper()
	return e.produceAs(t, newUUID(), topic, key, msg)
}

// produceAs is produce with a given event id (ce_id), to deliver one event twice.
func (e *env) produceAs(t *testing.T, id, topic, key string, msg proto.Message) string {
	t.Helper()
	kafkatest.Produce(t, e.producer, eventstest.Record(topic, key, id, msg))
	return id
}

// publishRaw publishes a frame straight onto a user's channel (a barrier or a flood in tests).
func (e *env) publishRaw(t *testing.T, userID string, frame []byte) {
	t.Helper()
	err := e.redis.Do(t.Context(), e.redis.B().Publish().Channel(realtime.UserChannel(userID)).Message(string(frame)).Build()).Error()
	if err != nil {
		t.Fatal(err)
	}
}

// frame is one decoded frame a client received.
type frame map[string]any

func (f frame) str(k string) string { s, _ := f[k].(string); return s }
func (f frame) num(k string) int64  { n, _ := f[k].(float64); return int64(n) }
func (f frame) obj(k string) frame  { m, _ := f[k].(map[string]any); return m }
func (f frame) typ() string         { return f.str("type") }

// client is a WebSocket client as a browser or app would be.
type client struct {
	t    *testing.T
	ws   *websocket.Conn
	res  *http.Response
	mu   sync.Mutex
	got  []frame
	more chan struct{} // closed and replaced on every frame
	done chan struct{}
	err  error // why reading stopped
}

type dialOpts struct {
	token     string   // sent as the bearer.<token> subprotocol
	protocols []string // replaces the default subprotocols
	origin    string   // default testOrigin
	noRead    bool     // do not start reading (slow consumer)
}

func dial(t *testing.T, url string, o dialOpts) (*client, error) {
	t.Helper()
	protocols := o.protocols
	if protocols == nil {
		protocols = []string{realtime.Subprotocol}
		if o.token != "" {
			protocols = append(protocols, "bearer."+o.token)
		}
	}
	origin := o.origin
	if origin == "" {
		origin = testOrigin
	}
	tr := &http.Transport{}
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	ws, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{ //nolint:bodyclose // the body of a 101 is the connection; coder/websocket handles it
		Subprotocols: protocols,
		HTTPHeader:   http.Header{"Origin": {origin}},
		HTTPClient:   &http.Client{Transport: tr},
	})
	if err != nil {
		if res != nil {
			return &client{t: t, res: res}, err
		}
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	c := &client{t: t, ws: ws, res: res, more: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() { _ = ws.CloseNow() })
	if !o.noRead {
		go c.read()
	}
	return c, nil
}

// mustDial connects with a token in the subprotocol and waits for ready.
func mustDial(t *testing.T, g *gw, token string) *client {
	t.Helper()
	c, err := dial(t, g.url, dialOpts{token: token})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.waitFor(t, "ready", func(f frame) bool { return f.typ() == realtime.TypeReady })
	return c
}

func (c *client) read() {
	defer close(c.done)
	for {
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.err = err
			close(c.more)
			c.more = make(chan struct{})
			c.mu.Unlock()
			return
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			f = frame{"type": "<not json>", "raw": string(data)}
		}
		c.mu.Lock()
		c.got = append(c.got, f)
		close(c.more)
		c.more = make(chan struct{})
		c.mu.Unlock()
	}
}

func (c *client) send(t *testing.T, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatalf("send %s: %v", b, err)
	}
}

// summary lists the types of the frames so far (for failure messages).
func (c *client) summary() string {
	var types []string
	for _, f := range c.frames() {
		types = append(types, f.typ())
	}
	if len(types) > 40 {
		types = append(types[:40], fmt.Sprintf("… %d more", len(types)-40))
	}
	return strings.Join(types, ",")
}

// frames returns what has arrived so far.
func (c *client) frames() []frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// waitFor returns the first frame (from the start of the connection) matching match, waiting
// up to the bound.
func (c *client) waitFor(t *testing.T, what string, match func(frame) bool) frame {
	t.Helper()
	f, err := c.first(t, "a "+what+" frame", match)
	if err != nil {
		t.Fatalf("no %s frame before the connection ended (%v); got %s", what, err, c.summary())
	}
	return f
}

// waitForAny returns the first frame matching match, or nil when the connection ends first.
func (c *client) waitForAny(t *testing.T, match func(frame) bool) frame {
	t.Helper()
	f, _ := c.first(t, "a match", match)
	return f
}

// first returns the first frame (from the start of the connection) matching match, or the error
// that ended the connection before one came. It fails the test when neither comes within the
// bound.
func (c *client) first(t *testing.T, what string, match func(frame) bool) (frame, error) {
	t.Helper()
	deadline := time.After(wait)
	for {
		c.mu.Lock()
		for _, f := range c.got {
			if match(f) {
				c.mu.Unlock()
				return f, nil
			}
		}
		more, err := c.more, c.err
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("neither %s nor the end of the connection within %v; got %s", what, wait, c.summary())
		}
	}
}

// count counts the frames so far that match.
func (c *client) count(match func(frame) bool) int {
	n := 0
	for _, f := range c.frames() {
		if match(f) {
			n++
		}
	}
	return n
}

// closed waits for the connection to end and returns its close status (-1 when it ended
// without a close frame).
func (c *client) closed(t *testing.T) websocket.StatusCode {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(wait):
		t.Fatalf("connection still open after %v; got %s", wait, c.summary())
	}
	return websocket.CloseStatus(c.err)
}

func (c *client) closeReason() string {
	var ce websocket.CloseError
	if errors.As(c.err, &ce) {
		return ce.Reason
	}
	return ""
}

// barrier publishes a marker on the user's channel and waits until c has it: whatever was
// published to that user before the marker has arrived by then.
func (e *env) barrier(t *testing.T, c *client, userID string) {
	t.Helper()
	mark := "barrier-" + newUUID()
	e.publishRaw(t, userID, []byte(fmt.Sprintf(`{"type":"test_marker","mark":%q}`, mark)))
	c.waitFor(t, "barrier", func(f frame) bool { return f.str("mark") == mark })
}

// isType matches frames of a type.
func isType(typ string) func(frame) bool {
	return func(f frame) bool { return f.typ() == typ }
}

func wantEq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

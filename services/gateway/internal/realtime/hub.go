// Package realtime is the gateway's WebSocket endpoint: it authenticates connections, delivers
// each user's events (messages, read receipts, friend requests, notifications, presence, typing)
// to every open connection of that user on any gateway process, relays typing indicators,
// answers presence queries and lets a reconnecting client catch up on the messages it missed.
//
// Frames reach a user's connections through a Redis pub/sub channel per user
// (parley:rt:user:<user_id>, UserChannel): the fan-out (package fanout) publishes there what
// domain events mean for the user, hubs publish presence and typing, and every gateway subscribes
// to the channels of the users connected to it. docs/realtime.md describes the protocol and the
// design.
//
// The Hub keeps the connections: it registers them, holds the Redis subscription, delivers to
// the connections here, runs their read loops and shuts them down; it also keeps each user's
// friend list, because delivery filters presence frames on it under the registry's lock. The
// frames that need the chat service are answered by chats (sync.go, with the chat cache and the
// upstream budget in chatcache.go) and typingRelay (typing.go); friendService loads friend lists.
package realtime

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	friendv1 "github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/telemetry"
	"github.com/parleyhq/parley/services/gateway/internal/sessions"
)

// TokenVerifier checks a raw access token; *gateway.Gateway is the real one (Unauthenticated for
// a bad token, Unavailable when the keys cannot be fetched).
type TokenVerifier interface {
	VerifyToken(ctx context.Context, raw string) (authn.Principal, *connect.Error)
}

// ChatAPI is what chats asks the chat service, always with the user's own token.
type ChatAPI interface {
	GetChat(ctx context.Context, req *connect.Request[chatv1.GetChatRequest]) (*connect.Response[chatv1.GetChatResponse], error)
	ListMessages(ctx context.Context, req *connect.Request[chatv1.ListMessagesRequest]) (*connect.Response[chatv1.ListMessagesResponse], error)
}

// FriendAPI is what friendService asks the friend service, with the user's own token.
type FriendAPI interface {
	ListFriends(ctx context.Context, req *connect.Request[friendv1.ListFriendsRequest]) (*connect.Response[friendv1.ListFriendsResponse], error)
}

// Options configure a Hub. Zero values take the documented defaults.
type Options struct {
	Logger *slog.Logger
	// Redis returns the gateway's one Redis client, nil while it is not connected (required). The
	// hub does not close it: its owner does once Run has returned, so that closing connections
	// can still unregister them in Redis.
	Redis    func() rueidis.Client
	Verifier TokenVerifier
	Chat     ChatAPI
	Friends  FriendAPI
	// AllowedOrigins are the browser origins that may connect (CORS_ALLOWED_ORIGINS: "*",
	// "https://app.example.com", "https://*.example.com"). Requests without Origin (non-browser
	// clients) and same-host origins are always allowed.
	AllowedOrigins []string

	MaxConnsPerUser  int           // fleet-wide, 0 = unlimited; default 10
	SendBuffer       int           // frames queued per connection before it counts as slow; default 256
	MaxFrameBytes    int64         // largest client frame; default 64 KiB
	AuthTimeout      time.Duration // for the first-frame auth; default 5s
	PingInterval     time.Duration // default 30s
	PingTimeout      time.Duration // default 15s
	WriteTimeout     time.Duration // one frame write; default 10s
	PresenceInterval time.Duration // presence refresh; default 30s
	SyncMaxChats     int           // chats per sync frame; default 100
	SyncMaxMessages  int           // messages replayed per chat before sync_required; default 200
	TypingInterval   time.Duration // one typing relay per user and chat per interval; default 2s
	UpstreamTimeout  time.Duration // chat/friend calls; default 5s
	// Revocations are the revoked sessions this hub checks (WebSocket authentication) and
	// remembers (_revoke frames): the gateway's one instance, which the API path's session check
	// and the fan-out (which marks them) share, so that a revocation either learns holds for all.
	// Required; its TTL and check timeout are its own options.
	Revocations *sessions.Revocations
	// FrameRate and FrameBurst limit the frames one client sends (per second); default 20 and 40.
	FrameRate  float64
	FrameBurst int
	// RedisTimeout bounds one Redis round trip; default 2s.
	RedisTimeout time.Duration
	// RedisReconnectMin and RedisReconnectMax bound the wait between attempts to restore the
	// Redis subscription: doubled after each failed attempt, with jitter (a random half of it),
	// from Min up to Max. Default 100ms and 10s.
	RedisReconnectMin time.Duration
	RedisReconnectMax time.Duration
	// UpstreamCalls per UpstreamInterval bound the chat and friend service calls one user's
	// frames (sync, typing, presence_query) cause on this gateway; default 300 per minute.
	UpstreamCalls    int
	UpstreamInterval time.Duration
	// Telemetry gets the hub's metrics (connections, frames written, slow consumers closed) and,
	// with tracing on, a span per frame that arrives with trace context (WithTrace).
	Telemetry *telemetry.Telemetry
}

func (o *Options) defaults() {
	setDefault(&o.MaxConnsPerUser, 10)
	setDefault(&o.SendBuffer, 256)
	setDefault(&o.MaxFrameBytes, 64<<10)
	setDefault(&o.AuthTimeout, 5*time.Second)
	setDefault(&o.PingInterval, 30*time.Second)
	setDefault(&o.PingTimeout, 15*time.Second)
	setDefault(&o.WriteTimeout, 10*time.Second)
	setDefault(&o.PresenceInterval, 30*time.Second)
	setDefault(&o.SyncMaxChats, 100)
	setDefault(&o.SyncMaxMessages, 200)
	setDefault(&o.TypingInterval, 2*time.Second)
	setDefault(&o.UpstreamTimeout, 5*time.Second)
	setDefault(&o.FrameRate, 20)
	setDefault(&o.FrameBurst, 40)
	setDefault(&o.RedisTimeout, 2*time.Second)
	setDefault(&o.RedisReconnectMin, 100*time.Millisecond)
	setDefault(&o.RedisReconnectMax, 10*time.Second)
	o.RedisReconnectMax = max(o.RedisReconnectMax, o.RedisReconnectMin)
	setDefault(&o.UpstreamCalls, 300)
	setDefault(&o.UpstreamInterval, time.Minute)
}

func setDefault[T int | int64 | float64 | time.Duration](v *T, d T) {
	if *v == 0 {
		*v = d
	}
}

// Hub holds this gateway's WebSocket connections.
type Hub struct {
	log     *slog.Logger
	opts    Options
	origins []string
	store   *store
	revoked *sessions.Revocations
	sub     *subscriber
	chats   *chats
	typing  *typingRelay
	friends friendService

	mu      sync.Mutex
	users   map[string]*userState
	closing bool            // shutting down: no new connections are attached
	base    context.Context // connections live in it; cancelled at the end of shutdown
	stop    context.CancelFunc
	wg      sync.WaitGroup // connection handlers
	tasks   sync.WaitGroup // background work started by frames (presence pushes, friend reloads)

	slowCloses atomic.Int64
	sockets    atomic.Int64 // accepted WebSockets not yet closed and released (OpenSockets)
	frames     atomic.Int64 // frames written to sockets
}

// userState is what the hub keeps of one user with connections here.
type userState struct {
	conns map[*conn]struct{}
	// friends are the user ids whose presence this user may see (and who may see theirs),
	// loaded from the friend service at connect, then kept current from friend frames.
	friends       map[string]bool
	friendsLoaded bool
}

// New builds a hub; Run it and mount Serve at /ws.
func New(opts Options) (*Hub, error) {
	switch {
	case opts.Logger == nil:
		return nil, errors.New("realtime: no logger")
	case opts.Redis == nil:
		return nil, errors.New("realtime: no redis")
	case opts.Verifier == nil:
		return nil, errors.New("realtime: no token verifier")
	case opts.Chat == nil || opts.Friends == nil:
		return nil, errors.New("realtime: no chat or friend client")
	case opts.Revocations == nil:
		return nil, errors.New("realtime: no revocations (the gateway's one sessions.Revocations)")
	case opts.RedisReconnectMin < 0 || opts.RedisReconnectMax < 0:
		return nil, errors.New("realtime: REALTIME_REDIS_RECONNECT_MIN and _MAX must not be negative")
	case opts.UpstreamCalls < 0 || opts.UpstreamInterval < 0:
		return nil, errors.New("realtime: UpstreamCalls (REALTIME_UPSTREAM_CALLS) and UpstreamInterval (REALTIME_UPSTREAM_INTERVAL) must not be negative")
	}
	opts.defaults()
	h := &Hub{
		log:     opts.Logger.With("component", "realtime"),
		opts:    opts,
		origins: originPatterns(opts.AllowedOrigins),
		users:   map[string]*userState{},
		chats:   newChats(opts),
		friends: friendService{api: opts.Friends, timeout: opts.UpstreamTimeout},
	}
	h.base, h.stop = context.WithCancel(context.Background())
	h.store = &store{
		client: opts.Redis, ttl: opts.PresenceInterval*5/2 + time.Second, timeout: opts.RedisTimeout,
	}
	h.revoked = opts.Revocations
	h.typing = &typingRelay{chats: h.chats, store: h.store, interval: opts.TypingInterval}
	h.sub = newSubscriber(h.log, opts.RedisTimeout, opts.RedisReconnectMin, opts.RedisReconnectMax)
	h.sub.onMessage = h.dispatch
	h.sub.onResubscribed = h.resyncAll
	h.sub.wanted = h.hasUser
	h.sub.all = h.userIDs
	h.registerMetrics()
	return h, nil
}

// registerMetrics publishes the hub's counts, read when Prometheus scrapes.
func (h *Hub) registerMetrics() {
	tel := h.opts.Telemetry
	tel.RegisterOnce(telemetry.MetricWSConnections, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: telemetry.MetricWSConnections, Help: "Authenticated WebSocket connections this gateway holds.",
	}, func() float64 { return float64(h.Connections()) }))
	tel.RegisterOnce(telemetry.MetricWSFrames, prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: telemetry.MetricWSFrames, Help: "Frames written to WebSocket connections.",
	}, func() float64 { return float64(h.frames.Load()) }))
	dropped := prometheus.NewDesc(telemetry.MetricWSDropped, "WebSocket connections closed by the gateway, by reason: slow_consumer (its send buffer filled up).", []string{"reason"}, nil)
	tel.RegisterOnce(telemetry.MetricWSDropped, collectorFunc{dropped, func(ch chan<- prometheus.Metric) {
		ch <- prometheus.MustNewConstMetric(dropped, prometheus.CounterValue, float64(h.slowCloses.Load()), "slow_consumer")
	}})
}

// collectorFunc is a one-family collector.
type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

// originPatterns turns CORS_ALLOWED_ORIGINS entries into coder/websocket origin patterns: with a
// scheme they match scheme://host, "*" matches any host.
func originPatterns(origins []string) []string {
	out := make([]string, 0, len(origins))
	for _, o := range origins {
		o = strings.TrimSuffix(strings.TrimSpace(o), "/")
		if o != "" {
			out = append(out, o)
		}
	}
	return out
}

var errShuttingDown = errors.New("gateway shutting down")

// RedisState is the state of the hub's Redis subscription, for readiness reports.
type RedisState struct {
	// State is "connecting" (never connected yet), "up" or "down".
	State string `json:"state"`
	// Since is when it entered that state.
	Since time.Time `json:"since"`
}

// Up reports whether the subscription is connected.
func (s RedisState) Up() bool { return s.State == redisUp }

// String is "up", or the state and since when ("down since 2026-12-02T20:00:00Z").
func (s RedisState) String() string {
	if s.State == redisUp {
		return s.State
	}
	return s.State + " since " + s.Since.UTC().Format(time.RFC3339)
}

// RedisState reports whether the hub's Redis subscription is up. While it is not, WebSocket
// connections are refused (1013) and revoked-session checks fail open except for the
// revocations this gateway remembers; the API keeps working.
func (h *Hub) RedisState() RedisState { return h.sub.state() }

// Run keeps the Redis subscription and the presence heartbeat going until ctx ends, then closes
// every connection with 1001 (going away) and waits for their handlers, at most until
// shutdownTimeout.
func (h *Hub) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { h.sub.run(ctx, h.opts.Redis) })
	wg.Go(func() { h.heartbeatLoop(ctx) })
	<-ctx.Done()
	h.shutdown()
	wg.Wait()
}

func (h *Hub) shutdown() {
	h.mu.Lock()
	h.closing = true
	var all []*conn
	for _, us := range h.users {
		for c := range us.conns {
			all = append(all, c)
		}
	}
	h.mu.Unlock()
	for _, c := range all {
		c.close(CloseGoingAway, "gateway shutting down, reconnect")
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		h.log.Warn("realtime: connections still closing at shutdown")
	}
	h.stop()
	h.tasks.Wait() // they end quickly once base is cancelled
}

// Connections returns how many connections this gateway holds (for tests and metrics).
func (h *Hub) Connections() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, us := range h.users {
		n += len(us.conns)
	}
	return n
}

// SlowConsumerCloses counts connections closed because their send buffer filled up.
func (h *Hub) SlowConsumerCloses() int64 { return h.slowCloses.Load() }

func (h *Hub) hasUser(userID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.users[userID] != nil
}

func (h *Hub) userIDs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.users))
	for u := range h.users {
		out = append(out, u)
	}
	return out
}

// attach adds c to its user's connections and makes sure this gateway receives the user's
// channel. It reports whether c is the first connection of the user here.
func (h *Hub) attach(ctx context.Context, c *conn) (bool, error) {
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		return false, errShuttingDown
	}
	us := h.users[c.userID]
	first := us == nil
	if first {
		us = &userState{conns: map[*conn]struct{}{}, friends: map[string]bool{}}
		h.users[c.userID] = us
	}
	us.conns[c] = struct{}{}
	h.mu.Unlock()
	if err := h.sub.reconcile(ctx, c.userID); err != nil {
		h.detach(c)
		return false, err
	}
	return first, nil
}

// detach removes c; the last connection of a user here drops the subscription. It returns the
// user's friends as this gateway knew them (for the offline notice).
func (h *Hub) detach(c *conn) []string {
	h.mu.Lock()
	us := h.users[c.userID]
	if us == nil {
		h.mu.Unlock()
		return nil
	}
	if _, ok := us.conns[c]; !ok {
		h.mu.Unlock()
		return nil
	}
	delete(us.conns, c)
	friends := keys(us.friends)
	last := len(us.conns) == 0
	if last {
		delete(h.users, c.userID)
	}
	h.mu.Unlock()
	if last {
		h.chats.cache.forgetUser(c.userID)
		if err := h.sub.reconcile(context.WithoutCancel(h.base), c.userID); err != nil {
			h.log.Debug("realtime: unsubscribe", slog.Any("error", err))
		}
	}
	return friends
}

// dispatch handles a frame published on userID's channel: control frames change this gateway's
// state, the rest go to the user's connections here. A frame published with the trace context of
// the event it shows (WithTrace) is delivered inside a span of that trace.
func (h *Hub) dispatch(userID string, payload []byte) {
	traceparent, payload := splitTrace(payload)
	if traceparent == "" || !h.opts.Telemetry.Tracing() {
		h.route(userID, payload)
		return
	}
	tel := h.opts.Telemetry
	ctx := tel.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceparent})
	_, span := tel.Tracer().Start(ctx, "websocket deliver", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.system", "redis"), attribute.String("messaging.operation.type", "process")))
	n := h.route(userID, payload)
	span.SetAttributes(attribute.Int("parley.websocket.connections", n))
	span.End()
}

// route is dispatch for a frame without its trace context; it returns how many of the user's
// connections here the frame was queued for.
func (h *Hub) route(userID string, payload []byte) int {
	r, err := parseRoute(payload)
	if err != nil {
		h.log.Warn("realtime: unreadable frame on redis", slog.String("user", userID), slog.Any("error", err))
		return 0
	}
	h.mu.Lock()
	us := h.users[userID]
	if us == nil {
		h.mu.Unlock()
		return 0
	}
	var newFriend string
	switch r.Type {
	case typeRevoke:
		if r.SessionID != "" {
			h.revoked.Remember(r.SessionID)
		}
		var victims []*conn
		for c := range us.conns {
			if r.SessionID != "" && c.session() == r.SessionID {
				victims = append(victims, c)
			}
		}
		h.mu.Unlock()
		for _, c := range victims {
			c.close(CloseSessionRevoked, "session revoked: sign in again")
		}
		return 0
	case typeUnfriend:
		delete(us.friends, r.UserID)
		h.mu.Unlock()
		h.chats.cache.forgetPeer(userID, r.UserID)
		return 0
	case TypeFriendAccepted:
		newFriend = other(userID, r.RequesterID, r.AccepterID)
		if newFriend != "" {
			us.friends[newFriend] = true
		}
	case TypeFriendRemoved:
		if ex := other(userID, r.UserID, r.FriendUserID); ex != "" {
			delete(us.friends, ex)
			defer h.chats.cache.forgetPeer(userID, ex)
		}
	case TypePresence:
		if !us.friends[r.UserID] {
			h.mu.Unlock()
			return 0 // not (or no longer) a friend here: never shown
		}
	}
	conns := make([]*conn, 0, len(us.conns))
	for c := range us.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.deliver(r, payload)
	}
	if newFriend != "" {
		h.tasks.Go(func() { h.pushPresenceOf(userID, newFriend) })
	}
	return len(conns)
}

// other returns whichever of a and b is not me ("" when neither is me).
func other(me, a, b string) string {
	switch me {
	case a:
		return b
	case b:
		return a
	}
	return ""
}

// pushPresenceOf sends friend's current presence to userID's connections here (after the two
// became friends).
func (h *Hub) pushPresenceOf(userID, friend string) {
	ctx, cancel := context.WithTimeout(h.base, h.opts.RedisTimeout)
	defer cancel()
	entries, err := h.store.presence(ctx, []string{friend}, time.Now())
	if err != nil || len(entries) == 0 {
		return
	}
	e := entries[0]
	h.localDeliver(userID, mustJSON(presenceFrame{Type: TypePresence, UserID: friend, Online: e.Online, LastSeen: e.LastSeen}))
}

// localDeliver hands a frame to userID's connections on this gateway only.
func (h *Hub) localDeliver(userID string, payload []byte) {
	r, err := parseRoute(payload)
	if err != nil {
		return
	}
	for _, c := range h.localConns(userID) {
		c.deliver(r, payload)
	}
}

func (h *Hub) localConns(userID string) []*conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	us := h.users[userID]
	if us == nil {
		return nil
	}
	out := make([]*conn, 0, len(us.conns))
	for c := range us.conns {
		out = append(out, c)
	}
	return out
}

// resyncAll tells every connection that frames may have been lost (the Redis subscription was
// down), so clients sync again, and reloads friend lists that may have missed changes.
func (h *Hub) resyncAll() {
	h.mu.Lock()
	var all []*conn
	for _, us := range h.users {
		us.friendsLoaded = false
		for c := range us.conns {
			all = append(all, c)
		}
	}
	h.mu.Unlock()
	frame := mustJSON(refFrame{Type: TypeResync})
	for _, c := range all {
		c.deliver(route{Type: TypeResync}, frame)
	}
	for _, c := range h.unloadedFriends() {
		h.tasks.Go(func() { h.loadFriends(c) })
	}
}

// friendSubset returns those of ids that are friends of userID as this gateway knows them.
func (h *Hub) friendSubset(userID string, ids []string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	us := h.users[userID]
	if us == nil {
		return nil
	}
	var out []string
	for _, id := range ids {
		if us.friends[id] {
			out = append(out, id)
		}
	}
	return out
}

// loadFriends (re)loads the user's friend list with c's token unless it is loaded already, and
// reports whether this call loaded it.
func (h *Hub) loadFriends(c *conn) bool {
	h.mu.Lock()
	us := h.users[c.userID]
	if us == nil || us.friendsLoaded {
		h.mu.Unlock()
		return false
	}
	h.mu.Unlock()
	ids, err := h.friends.list(c.ctx, c.token())
	if err != nil {
		h.log.Warn("realtime: cannot load friends; presence is not shared until it loads (retried every presence interval)", slog.String("user", c.userID), slog.Any("error", err))
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	us = h.users[c.userID]
	if us == nil {
		return false
	}
	// The list replaces what was known: after a gap in the Redis subscription a removal may have
	// been missed, and presence must never keep flowing to a former friend. (A friendship made
	// while the list was loading shows after the next reload or reconnection.)
	us.friends = make(map[string]bool, len(ids))
	for _, id := range ids {
		us.friends[id] = true
	}
	us.friendsLoaded = true
	return true
}

// publishPresence tells userID's friends that userID came online or went offline.
func (h *Hub) publishPresence(ctx context.Context, userID string, friends []string, online bool, at time.Time) {
	if len(friends) == 0 {
		return
	}
	frame := mustJSON(presenceFrame{Type: TypePresence, UserID: userID, Online: online, LastSeen: at.UTC().Truncate(time.Millisecond)})
	if err := h.store.publish(ctx, frame, friends...); err != nil {
		h.log.Warn("realtime: cannot publish presence", slog.String("user", userID), slog.Any("error", err))
	}
}

// openConns lists each user's connection ids (h.mu held), leaving out those being closed: a
// revoked session's (a deleted account's among them, whose last-seen time the fan-out forgets)
// must not refresh the user's presence on its way out.
func openConns(users map[string]*userState) map[string][]string {
	conns := make(map[string][]string, len(users))
	for u, us := range users {
		for c := range us.conns {
			if !c.closing.Load() {
				conns[u] = append(conns[u], c.id)
			}
		}
	}
	return conns
}

// heartbeatLoop refreshes the presence of everyone connected here every PresenceInterval, and
// drops expired chat-cache entries.
func (h *Hub) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(h.opts.PresenceInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		conns := openConns(h.users)
		h.mu.Unlock()
		if err := h.store.heartbeat(ctx, conns, time.Now()); err != nil && ctx.Err() == nil {
			h.log.Warn("realtime: presence heartbeat failed", slog.Any("error", err))
		}
		// Friend lists that could not be loaded (friend service down) are tried again.
		for _, c := range h.unloadedFriends() {
			if h.loadFriends(c) {
				h.publishPresence(ctx, c.userID, h.friendList(c.userID), true, time.Now())
			}
		}
		h.chats.cache.expire(time.Now())
	}
}

// unloadedFriends returns one connection of each user whose friend list is not loaded.
func (h *Hub) unloadedFriends() []*conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*conn
	for _, us := range h.users {
		if us.friendsLoaded {
			continue
		}
		for c := range us.conns {
			out = append(out, c)
			break
		}
	}
	return out
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func newID() string { return strings.ToLower(rand.Text()) }

package realtime_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/redis/rueidis"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/timestamppb"

	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1/chatv1connect"
	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/platform/waittest"

	"github.com/parleyhq/parley/services/gateway/internal/fanout"
	"github.com/parleyhq/parley/services/gateway/internal/gateway"
	"github.com/parleyhq/parley/services/gateway/internal/realtime"
	"github.com/parleyhq/parley/services/gateway/internal/sessions"
)

// These tests put a redistest.Proxy between one gateway and Redis, so that Redis can go down,
// hang and come back for that gateway without touching the shared server.

// fanoutMaxAttempts is the consumer's MaxAttempts in these tests: small, with short back-offs,
// so that an outage outlasts MaxAttempts × backoff within a second.
const fanoutMaxAttempts = 2

// proxied is a gateway (API and hub) whose Redis is reached through a proxy.
type proxied struct {
	proxy *redistest.Proxy
	// redis is the gateway's one Redis client, which the hub, the revoked sessions and the
	// fan-out read (through client); a test may replace it.
	redis atomic.Pointer[rueidis.Client]
	hub   *realtime.Hub
	// revocations are the revoked sessions the API path, the hub and the fan-out share.
	revocations *sessions.Revocations
	api         string // the gateway's base URL
	logs        *logRecorder
	group       string // its fan-out consumer group, when started with Kafka
}

func startProxied(t *testing.T, e *env, opts func(*realtime.Options)) *proxied {
	t.Helper()
	p := &proxied{proxy: redistest.NewProxy(t), logs: &logRecorder{}, group: "gateway-realtime-test-" + newUUID()}
	logger := slog.New(p.logs)
	up, err := gateway.NewUpstream("chat", e.chatURL)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Options{Logger: logger, Upstreams: []gateway.Upstream{up}, Verifier: e.iss.RemoteVerifier(t)})
	if err != nil {
		t.Fatal(err)
	}
	// Client-side caching on, as run.go opens the gateway's one client.
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{p.proxy.Addr()}, CacheSizeEachConn: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	p.redis.Store(&rc)
	httpClient := &http.Client{Transport: server.H2CTransport()}
	o := realtime.Options{
		Logger:   logger,
		Redis:    p.client,
		Verifier: g,
		Chat:     chatv1connect.NewChatServiceClient(httpClient, e.chatURL, connect.WithGRPC()),
		Friends:  e.friends,
	}
	if opts != nil {
		opts(&o)
	}
	revocations := sharedRevocations(t, &o)
	hub, err := realtime.New(o)
	if err != nil {
		t.Fatal(err)
	}
	g.SetSessionCheck(revocations.Revoked) // as run.go installs it
	p.hub, p.revocations = hub, revocations

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { hub.Run(ctx) })
	if e.brokers != nil {
		e.runFanout(ctx, t, &wg, events.ConsumerConfig{
			Group: p.group, MaxAttempts: fanoutMaxAttempts, RetryBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		}, fanout.Options{
			Logger: logger, Redis: p.client, Revocations: revocations, Attempts: 1, Backoff: 10 * time.Millisecond,
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { _ = g.Serve(ctx, ln, gateway.ServerOptions{ShutdownTimeout: time.Second}) })
	p.api = "http://" + ln.Addr().String()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		rc.Close()
		httpClient.CloseIdleConnections()
	})
	p.waitRedisState(t, "up")
	return p
}

func (p *proxied) client() rueidis.Client { return *p.redis.Load() }

func (p *proxied) waitRedisState(t *testing.T, state string) {
	t.Helper()
	waittest.Until(t, "redis state "+state, func() bool { return p.hub.RedisState().State == state })
}

// logRecorder is a slog handler keeping the messages, to count them.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Level.String()+" "+r.Message)
	l.mu.Unlock()
	return nil
}

// count is how many messages contain s.
func (l *logRecorder) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}

// A SessionRevoked that arrives while Redis is down, for longer than the consumer's MaxAttempts ×
// backoff, is neither lost nor dead-lettered: it is retried, and once Redis is back the session is
// marked revoked (the API refuses its tokens) — even though this gateway had a cached "not
// revoked" answer for it from before the outage.
func TestRevocationDuringRedisOutageIsAppliedWhenRedisReturns(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{kafka: true})
	p := startProxied(t, e, nil)
	user, session := newUUID(), "outage-"+newUUID()
	if revoked, err := p.revocations.Revoked(t.Context(), session); err != nil || revoked {
		t.Fatalf("before the revocation: revoked=%v, %v", revoked, err)
	}

	p.proxy.Cut()
	e.produce(t, topics.Auth, user, &eventsv1.SessionRevoked{UserId: user, SessionId: session, Reason: "logout", RevokedAt: timestamppb.Now()})
	// Retried well past MaxAttempts (each retry is logged), and not dead-lettered meanwhile.
	dlq := events.DeadLetterTopic(topics.Auth, p.group)
	waittest.Until(t, "retries past MaxAttempts, or a dead-letter record", func() bool {
		return p.logs.count("cannot apply the event yet") >= 4*fanoutMaxAttempts || deadLettered(t, e.brokers, dlq) > 0
	})
	if n := deadLettered(t, e.brokers, dlq); n != 0 {
		t.Fatalf("the revocation was dead-lettered during the outage (%d records)", n)
	}
	p.proxy.Restore()

	waittest.Until(t, "the session marked revoked", func() bool {
		revoked, err := p.revocations.Revoked(t.Context(), session)
		return err == nil && revoked
	})
	// Marked in Redis, where every gateway looks.
	if err := e.redis.Do(t.Context(), e.redis.B().Get().Key("parley:rt:revoked:"+session).Build()).Error(); err != nil {
		t.Fatalf("revocation mark in redis: %v", err)
	}
	if n := deadLettered(t, e.brokers, dlq); n != 0 {
		t.Fatalf("%d records dead-lettered, want none", n)
	}
}

// deadLettered counts the records ever written to a dead-letter topic (0 when it is empty or
// does not exist).
func deadLettered(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	offs, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	var n int64
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			n += o.Offset
		}
	})
	return n
}

// A cached "not revoked" answer does not survive this gateway's disconnection from Redis: a
// revocation written meanwhile (by another gateway, straight to Redis) is seen once the connection
// is back, not when the cached answer would have expired.
func TestCachedAnswerDoesNotOutliveARevocationMadeWhileDisconnected(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	p := startProxied(t, e, nil)
	session := "cached-" + newUUID()
	for range 2 { // the second answer comes from the client-side cache
		if revoked, err := p.revocations.Revoked(t.Context(), session); err != nil || revoked {
			t.Fatalf("a live session: revoked=%v, %v", revoked, err)
		}
	}
	p.proxy.Cut()
	if err := e.redis.Do(t.Context(), e.redis.B().Set().Key("parley:rt:revoked:"+session).Value("1").Ex(time.Minute).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	p.proxy.Restore()
	waittest.Until(t, "the revocation seen after reconnecting", func() bool {
		revoked, err := p.revocations.Revoked(t.Context(), session)
		return err == nil && revoked
	})
}

// A revocation this gateway has seen stays refused while Redis is down (it remembers it), where
// the check for any other session has no answer (and the caller lets the call through).
func TestSeenRevocationSurvivesRedisOutage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	p := startProxied(t, e, nil)
	revokedSession, liveSession := "seen-"+newUUID(), "live-"+newUUID()
	if err := e.redis.Do(t.Context(), e.redis.B().Set().Key("parley:rt:revoked:"+revokedSession).Value("1").Ex(time.Minute).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	// A second client through the proxy, connected now, with nothing cached.
	fresh, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{p.proxy.Addr()}, CacheSizeEachConn: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if revoked, err := p.revocations.Revoked(t.Context(), revokedSession); err != nil || !revoked {
		t.Fatalf("a revoked session: revoked=%v, %v", revoked, err)
	}
	p.proxy.Cut()
	// The hub now talks to Redis through a client whose cache never held the answer: what the
	// hub's own client looks like once rueidis has noticed the broken connection and emptied its
	// cache (which the moment of noticing makes racy to wait for).
	p.redis.Store(&fresh)
	if revoked, err := p.revocations.Revoked(t.Context(), revokedSession); err != nil || !revoked {
		t.Fatalf("a revoked session with redis down: revoked=%v, %v; want remembered", revoked, err)
	}
	if revoked, err := p.revocations.Revoked(t.Context(), liveSession); err == nil || revoked {
		t.Fatalf("an unknown session with redis down: revoked=%v, %v; want no answer", revoked, err)
	}
}

// With Redis stuck (connections open, nothing answered), an API call through the gateway still
// returns: the revoked-session check gives up after its CheckTimeout (sessions.Options) and the call goes
// ahead on its token (it reaches the chat service, which answers NotFound for an unknown chat);
// a session this gateway saw revoked is still refused.
func TestHangingRedisDoesNotStallAPICalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	p := startProxied(t, e, nil)
	user, revokedSession := newUUID(), "hang-revoked-"+newUUID()
	if err := e.redis.Do(t.Context(), e.redis.B().Set().Key("parley:rt:revoked:"+revokedSession).Value("1").Ex(time.Minute).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	client := chatv1connect.NewChatServiceClient(http.DefaultClient, p.api+"/api")
	call := func(session string) error {
		// The test's own deadline: far above the check's timeout, below RedisTimeout (2s), the
		// bound the check had before it got one of its own.
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		req := connect.NewRequest(&chatv1.GetChatRequest{By: &chatv1.GetChatRequest_ChatId{ChatId: newUUID()}})
		req.Header().Set("Authorization", "Bearer "+e.iss.Token(t, user, authntest.Session(session), authntest.TTL(time.Minute)))
		_, err := client.GetChat(ctx, req)
		return err
	}
	if err := call(revokedSession); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("a revoked session's call: %v, want unauthenticated", err)
	}

	p.proxy.Hang()
	for range 3 {
		if err := call("hang-live-" + newUUID()); connect.CodeOf(err) != connect.CodeNotFound {
			t.Fatalf("a call with redis stuck: %v (%v); want it to reach the chat service (not_found)", connect.CodeOf(err), err)
		}
	}
	if err := call(revokedSession); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("a revoked session's call with redis stuck: %v, want unauthenticated", err)
	}
	// Logged once for the failing state, not per call.
	if n := p.logs.count("cannot check whether sessions were revoked"); n != 1 {
		t.Fatalf("the failing check was logged %d times, want once", n)
	}
	p.proxy.Restore()
	waittest.Until(t, "checks answering again", func() bool { return call("hang-live-"+newUUID()) != nil && p.logs.count("checks answer again") == 1 })
}

// While Redis is down the subscription is retried with a capped exponential back-off, not in a
// tight loop: the connection attempts seen at the proxy over a window stay within the bound the
// back-off allows; the loss and the restoration are logged once each and show in RedisState.
func TestRedisReconnectBacksOffAndLogsOncePerStateChange(t *testing.T) {
	t.Parallel()
	const minDelay, maxDelay = 50 * time.Millisecond, 400 * time.Millisecond
	e := newEnv(t, envConfig{})
	p := startProxied(t, e, func(o *realtime.Options) { o.RedisReconnectMin, o.RedisReconnectMax = minDelay, maxDelay })

	p.proxy.Cut()
	p.waitRedisState(t, "down")
	before := p.proxy.Accepts()
	// A measurement window, not a synchronisation: attempts are counted over it.
	const window = 3 * time.Second
	time.Sleep(window)
	attempts := p.proxy.Accepts() - before

	// Each wait is at least half of minDelay·2^k capped at maxDelay; the most attempts the window
	// allows is when the back-off starts over at its beginning. A subscription attempt opens one
	// connection; allow one more per attempt for the client's own reconnection.
	bound := int64(1)
	for k, spent := 0, time.Duration(0); ; k++ {
		spent += min(maxDelay, minDelay<<k) / 2
		if spent > window {
			break
		}
		bound++
	}
	if attempts > 2*bound {
		t.Fatalf("%d connection attempts in %v with back-off %v..%v; at most %d expected", attempts, window, minDelay, maxDelay, 2*bound)
	}

	p.proxy.Restore()
	p.waitRedisState(t, "up")
	if n := p.logs.count("redis subscription lost"); n != 1 {
		t.Fatalf("loss logged %d times, want once", n)
	}
	if n := p.logs.count("redis subscription restored"); n != 1 {
		t.Fatalf("restoration logged %d times, want once", n)
	}
	t.Logf("%d connection attempts in %v (bound %d)", attempts, window, 2*bound)
}

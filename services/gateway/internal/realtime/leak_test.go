package realtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/rueidis"
	"go.uber.org/goleak"

	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/waittest"
	"github.com/parleyhq/parley/services/gateway/internal/realtime"
)

// outcome is how the gateway ended one connection attempt.
type outcome struct {
	status int                  // HTTP status when the upgrade was refused; 0 when it completed
	code   websocket.StatusCode // the close code (-1: the connection ended without one)
	frames int                  // frames the client received before the end
}

func (o outcome) String() string {
	if o.status != 0 {
		return fmt.Sprintf("HTTP %d", o.status)
	}
	return fmt.Sprintf("close %d after %d frames", o.code, o.frames)
}

// attempt is one way of connecting.
type attempt struct {
	name      string
	url       string
	token     string   // bearer.<token> subprotocol
	tokens    []string // runMany: attempt i uses tokens[i] (a user each)
	protocols []string // replaces the default subprotocols
	origin    string   // default testOrigin
	// then is what the client does once upgraded; done means it hung up itself (nothing is read
	// then). nil: it only reads.
	then func(ctx context.Context, ws *websocket.Conn) (done bool, err error)
	want outcome // compared when then did not hang up
}

// try runs one attempt to its end. It never fails the test itself (it runs on goroutines of its
// own); the caller checks what it returns. Keep-alives are off, so no idle client connection
// outlives the attempt.
func try(ctx context.Context, a attempt) (outcome, error) {
	protocols := a.protocols
	if protocols == nil {
		protocols = []string{realtime.Subprotocol}
		if a.token != "" {
			protocols = append(protocols, "bearer."+a.token)
		}
	}
	origin := a.origin
	if origin == "" {
		origin = testOrigin
	}
	ws, res, err := websocket.Dial(ctx, a.url, &websocket.DialOptions{ //nolint:bodyclose // the body of a 101 is the connection; coder/websocket closes the others
		Subprotocols: protocols,
		HTTPHeader:   http.Header{"Origin": {origin}},
		HTTPClient:   &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
	})
	if err != nil {
		if res != nil {
			return outcome{status: res.StatusCode}, nil
		}
		return outcome{}, err
	}
	defer func() { _ = ws.CloseNow() }()
	if a.then != nil {
		done, err := a.then(ctx, ws)
		if err != nil || done {
			return outcome{}, err
		}
	}
	frames := 0
	for {
		_, _, err := ws.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return outcome{}, fmt.Errorf("still open after %v", wait)
			}
			return outcome{code: websocket.CloseStatus(err), frames: frames}, nil
		}
		frames++
	}
}

// sendFirst sends one message as the first frame.
func sendFirst(typ websocket.MessageType, data string) func(context.Context, *websocket.Conn) (bool, error) {
	return func(ctx context.Context, ws *websocket.Conn) (bool, error) {
		return false, ws.Write(ctx, typ, []byte(data))
	}
}

func authFrame(token string) string {
	b, _ := json.Marshal(map[string]string{"type": "auth", "token": token})
	return string(b)
}

// runMany runs n copies of a at once and checks each ends as a.want says.
func runMany(t *testing.T, n int, a attempt) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			a := a
			if a.tokens != nil {
				a.token = a.tokens[i]
			}
			got, err := try(ctx, a)
			switch {
			case err != nil:
				errs <- fmt.Errorf("%s: %w", a.name, err)
			case a.then != nil && got == (outcome{}):
				// the client hung up itself
			case got != a.want:
				errs <- fmt.Errorf("%s: %v, want %v", a.name, got, a.want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// TestRefusedConnectionsLeaveNothingBehind drives every way the gateway refuses a WebSocket
// through real gateways, many times each and concurrently, then checks that nothing is left:
// no socket open (OpenSockets, which counts until a connection's socket and context are
// released), nothing registered, and no goroutine beyond those that existed before.
//
// It must not call t.Parallel: goleak sees every goroutine of the process. Run sequentially, it
// runs while the package's parallel tests are paused (their goroutines exist already, so the
// snapshot below ignores them, and none start meanwhile); run in parallel, their goroutines would
// come and go under it and be reported as leaks.
func TestRefusedConnectionsLeaveNothingBehind(t *testing.T) {
	const n = 20 // attempts per way, all at once
	e := newEnv(t, envConfig{opts: func(o *realtime.Options) {
		o.AuthTimeout = 300 * time.Millisecond
		o.MaxConnsPerUser = 1
	}})
	g := e.startGateway(t)
	e.redisFor = func(*testing.T) rueidis.Client { return nil } // Redis not (yet) connected
	noRedis := e.startGateway(t)
	e.redisFor = nil
	e.opts = func(o *realtime.Options) { o.AuthTimeout = wait } // its pending auth holds the shutdown open
	closing := e.startGateway(t)
	gateways := map[string]*gw{"main": g, "without redis": noRedis, "shutting down": closing}

	// The warm-up: connections come and go on each, several at once, so what is created once
	// (upstream connections, key sets, the Redis client's pipelining goroutines, which rueidis
	// starts on the first concurrent use) exists before the snapshot.
	readyThenLeave := func(ctx context.Context, ws *websocket.Conn) (bool, error) {
		if _, _, err := ws.Read(ctx); err != nil {
			return false, fmt.Errorf("no ready: %w", err)
		}
		return true, ws.Close(websocket.StatusNormalClosure, "")
	}
	for _, a := range []attempt{
		{name: "warm-up", url: g.url, tokens: e.tokens(t, n), then: readyThenLeave},
		{name: "warm-up", url: closing.url, tokens: e.tokens(t, n), then: readyThenLeave},
		{name: "warm-up", url: noRedis.url, tokens: e.tokens(t, n), want: outcome{code: realtime.CloseTryAgainLater}},
	} {
		runMany(t, n, a)
	}
	// The user who holds the one connection allowed (for the too-many-connections refusals).
	busy := newUUID()
	holder := mustDial(t, g, e.iss.Token(t, busy))
	waitSockets(t, gateways, map[string]int64{"main": 1})
	ignore := goleak.IgnoreCurrent()

	// Sessions marked revoked the way the fan-out marks them (the key is the hub's; store.go).
	revoked := make([]string, n)
	for i := range revoked {
		sid := "revoked-" + newUUID()
		if err := e.redis.Do(t.Context(), e.redis.B().Set().Key("parley:rt:revoked:"+sid).Value("1").Ex(time.Minute).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		revoked[i] = e.iss.Token(t, newUUID(), authntest.Session(sid))
	}
	expired := e.iss.Token(t, newUUID(), authntest.Session("s-"+newUUID()), authntest.TTL(-time.Minute))
	unauthenticated := outcome{code: realtime.CloseUnauthenticated}
	for _, a := range []attempt{
		{name: "client hangs up before the auth frame", url: g.url, then: func(context.Context, *websocket.Conn) (bool, error) {
			return true, nil // try's deferred CloseNow drops the TCP connection
		}},
		{name: "client closes before the auth frame", url: g.url, then: func(_ context.Context, ws *websocket.Conn) (bool, error) {
			return true, ws.Close(websocket.StatusNormalClosure, "changed my mind")
		}},
		{name: "no auth frame in time", url: g.url, want: unauthenticated},
		{name: "first frame not auth", url: g.url, then: sendFirst(websocket.MessageText, `{"type":"ping"}`), want: unauthenticated},
		{name: "first frame binary", url: g.url, then: sendFirst(websocket.MessageBinary, authFrame(e.iss.Token(t, newUUID()))), want: unauthenticated},
		{name: "first frame not JSON", url: g.url, then: sendFirst(websocket.MessageText, `{"type":"auth",`), want: unauthenticated},
		{name: "auth frame without a token", url: g.url, then: sendFirst(websocket.MessageText, `{"type":"auth"}`), want: unauthenticated},
		{name: "first frame too big", url: g.url, then: sendFirst(websocket.MessageText, authFrame(strings.Repeat("x", 70<<10))), want: outcome{code: websocket.StatusMessageTooBig}},
		{name: "garbage token in the subprotocol", url: g.url, token: "not-a-jwt", want: unauthenticated},
		{name: "expired token in the subprotocol", url: g.url, token: expired, want: unauthenticated},
		{name: "garbage token in the auth frame", url: g.url, then: sendFirst(websocket.MessageText, authFrame("not-a-jwt")), want: unauthenticated},
		{name: "expired token in the auth frame", url: g.url, then: sendFirst(websocket.MessageText, authFrame(expired)), want: unauthenticated},
		{name: "too many connections", url: g.url, token: e.iss.Token(t, busy), want: outcome{code: realtime.CloseTooManyConnections}},
		{name: "foreign origin", url: g.url, token: e.iss.Token(t, newUUID()), origin: "https://evil.example", want: outcome{status: http.StatusForbidden}},
		{name: "subprotocols without parley.v1", url: g.url, protocols: []string{"chat.v9", "bearer." + e.iss.Token(t, newUUID())}, want: outcome{status: http.StatusBadRequest}},
		{name: "redis unavailable", url: noRedis.url, tokens: e.tokens(t, n), want: outcome{code: realtime.CloseTryAgainLater}},
	} {
		runMany(t, n, a)
	}
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, tok := range revoked {
		wg.Go(func() {
			got, err := try(ctx, attempt{url: g.url, token: tok})
			if err == nil && got != (outcome{code: realtime.CloseSessionRevoked}) {
				err = fmt.Errorf("%v, want close %d", got, realtime.CloseSessionRevoked)
			}
			if err != nil {
				errs <- fmt.Errorf("revoked session: %w", err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Shutting down: a connection still authenticating keeps the hub's shutdown waiting, and
	// connections that authenticate meanwhile are refused with 1001; once it is done the upgrade
	// itself is refused with 503.
	pending, _, err := websocket.Dial(ctx, closing.url, &websocket.DialOptions{ //nolint:bodyclose // a 101
		Subprotocols: []string{realtime.Subprotocol}, HTTPHeader: http.Header{"Origin": {testOrigin}},
		HTTPClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pending.CloseNow() }()
	waitSockets(t, gateways, map[string]int64{"main": 1, "shutting down": 1})
	closing.stopHub()
	goingAway := outcome{code: realtime.CloseGoingAway}
	for {
		// Until the hub has started shutting down, a connection gets ready (and then 1001).
		got, err := try(ctx, attempt{url: closing.url, token: e.iss.Token(t, newUUID())})
		if err != nil {
			t.Fatal(err)
		}
		if got == goingAway {
			break
		}
		if got.code != realtime.CloseGoingAway {
			t.Fatalf("while shutting down: %v", got)
		}
	}
	runMany(t, n, attempt{name: "gateway shutting down", url: closing.url, tokens: e.tokens(t, n), want: goingAway})
	if err := pending.Write(ctx, websocket.MessageText, []byte(authFrame(e.iss.Token(t, newUUID())))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := pending.Read(ctx); websocket.CloseStatus(err) != realtime.CloseGoingAway {
		t.Fatalf("the pending connection ended with %v, want close %d", err, realtime.CloseGoingAway)
	}
	select {
	case <-closing.hubDone:
	case <-ctx.Done():
		t.Fatal("the hub's shutdown did not end")
	}
	runMany(t, n, attempt{name: "gateway shut down", url: closing.url, tokens: e.tokens(t, n), want: outcome{status: http.StatusServiceUnavailable}})

	_ = holder.ws.Close(websocket.StatusNormalClosure, "")
	waitSockets(t, gateways, nil)
	for name, gw := range gateways {
		if n := gw.hub.Connections(); n != 0 {
			t.Errorf("%s gateway: %d connections still registered", name, n)
		}
	}
	// Closing handshakes end within a bound (coder/websocket waits up to 5 s for the peer):
	// poll for a clean state, then let goleak report what is left.
	waittest.UntilNil(t, "no goroutine left behind", func() error { return goleak.Find(ignore) })
}

// tokens mints access tokens for n new users.
func (e *env) tokens(t *testing.T, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		out[i] = e.iss.Token(t, newUUID())
	}
	return out
}

// waitSockets waits until each gateway holds the given number of open sockets (0 for those not
// named).
func waitSockets(t *testing.T, gateways map[string]*gw, want map[string]int64) {
	t.Helper()
	waittest.UntilNil(t, "the open sockets", func() error {
		var wrong []error
		for name, g := range gateways {
			if got := g.hub.OpenSockets(); got != want[name] {
				wrong = append(wrong, fmt.Errorf("%s gateway: %d open sockets, want %d", name, got, want[name]))
			}
		}
		return errors.Join(wrong...)
	})
}

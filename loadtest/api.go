package main

// The public API, used as a client would: registration, friendships and messages through the
// gateway with the generated Connect clients.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/sync/errgroup"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1/authv1connect"
	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1/chatv1connect"
	friendv1 "github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1/friendv1connect"
)

// errRateLimited stops the run: with the default limits a load test measures the limiter.
var errRateLimited = errors.New("the gateway's rate limits are too low for a load test: set RATE_LIMIT_USER and RATE_LIMIT_AUTH (e.g. 1000000000) on the gateway")

// user is one registered account.
type user struct {
	n     int
	id    string
	email string
	token string
}

// newHTTPClient is a keep-alive HTTP/1.1 client with room for conns idle connections per host,
// so closed-loop workers never wait for a connection or open new ones. A call's small body goes
// out in one write with its headers (oneWrite), as a browser sends it.
func newHTTPClient(conns int) *http.Client {
	return &http.Client{Transport: oneWrite{&http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * conns,
		MaxIdleConnsPerHost: 2 * conns,
		IdleConnTimeout:     90 * time.Second,
	}}}
}

// oneWrite sends a request whose body has a known length of at most 64 KiB with the body in
// memory, where net/http sees it and writes headers and body in one write. The Connect client's
// body is a reader of its own, so net/http flushed the headers first and the body after them: two
// writes per call, a system call more for the load generator and a read more for the gateway —
// and not what a browser does (Chromium merges a small body, under 1,400 bytes, into the write of
// its headers).
type oneWrite struct{ *http.Transport }

func (t oneWrite) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength <= 0 || r.ContentLength > 64<<10 {
		return t.Transport.RoundTrip(r)
	}
	buf := make([]byte, r.ContentLength)
	_, err := io.ReadFull(r.Body, buf)
	_ = r.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read the request body: %w", err)
	}
	out := r.Clone(r.Context())
	out.Body = io.NopCloser(bytes.NewReader(buf))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	return t.Transport.RoundTrip(out)
}

// codecOptions selects what a browser's connect-web sends (JSON) or binary protobuf.
func codecOptions(codec string) []connect.ClientOption {
	if codec == "json" {
		return []connect.ClientOption{connect.WithProtoJSON()}
	}
	return nil
}

// apiClients are the generated clients pointed at the gateway's /api.
type apiClients struct {
	auth   authv1connect.AuthServiceClient
	friend friendv1connect.FriendServiceClient
	chat   chatv1connect.ChatServiceClient
}

func newAPIClients(hc *http.Client, gatewayURL, codec string) *apiClients {
	base := strings.TrimRight(gatewayURL, "/") + "/api"
	opts := codecOptions(codec)
	return &apiClients{
		auth:   authv1connect.NewAuthServiceClient(hc, base, opts...),
		friend: friendv1connect.NewFriendServiceClient(hc, base, opts...),
		chat:   chatv1connect.NewChatServiceClient(hc, base, opts...),
	}
}

func withToken[T any](msg *T, token string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	req.Header().Set("Authorization", "Bearer "+token)
	return req
}

// isGatewayRateLimit tells the gateway's limiter (429 with Retry-After) from a service's own
// ResourceExhausted (auth's "too many sign-ins being hashed", which is worth a retry).
func isGatewayRateLimit(err error) bool {
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeResourceExhausted {
		return false
	}
	return ce.Meta().Get("Retry-After") != "" || strings.Contains(ce.Message(), "too many requests")
}

// errCode names an RPC failure for the report: the Connect code.
func errCode(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "deadline_exceeded"
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	return connect.CodeOf(err).String()
}

// retry runs f until it succeeds, fails for good, or attempts run out. Unavailable and a
// service's ResourceExhausted are transient; the gateway's rate limit ends the run.
func retry(ctx context.Context, attempts int, f func() error) error {
	var err error
	for i := range attempts {
		if err = f(); err == nil {
			return nil
		}
		if isGatewayRateLimit(err) {
			return errRateLimited
		}
		switch connect.CodeOf(err) {
		case connect.CodeResourceExhausted, connect.CodeUnavailable, connect.CodeDeadlineExceeded:
		default:
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Duration(i+1)*200*time.Millisecond, 2*time.Second)):
		}
	}
	return err
}

// newRunID is a short random id that keeps this run's accounts apart from any other's.
func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// register signs up account n of this run.
func (c *apiClients) register(ctx context.Context, runID string, n int) (*user, error) {
	u := &user{n: n, email: fmt.Sprintf("lt-%s-%d@example.com", runID, n)}
	req := &authv1.RegisterRequest{
		Email:    u.email,
		Password: "loadtest-" + runID + "-password",
		// 3 to 32 letters and digits (auth.proto); "lt" + 8 hex + n stays well inside.
		Nickname: fmt.Sprintf("lt%s%d", runID, n),
	}
	err := retry(ctx, 20, func() error {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		res, err := c.auth.Register(rctx, connect.NewRequest(req))
		if err != nil {
			return err
		}
		u.id, u.token = res.Msg.GetUserId(), res.Msg.GetTokens().GetAccessToken()
		return nil
	})
	if err != nil {
		if errors.Is(err, errRateLimited) {
			return nil, err
		}
		return nil, fmt.Errorf("register %s: %w", u.email, err)
	}
	return u, nil
}

// registerUsers signs up n accounts numbered from first, concurrency at a time (each costs an
// argon2id hash in auth), calling tick after each.
func (c *apiClients) registerUsers(ctx context.Context, runID string, first, n, concurrency int, tick func(done int)) ([]*user, error) {
	users := make([]*user, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(concurrency, 1))
	var done atomic.Int64
	for i := range n {
		g.Go(func() error {
			u, err := c.register(gctx, runID, first+i)
			if err != nil {
				return err
			}
			users[i] = u
			tick(int(done.Add(1)))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return users, nil
}

// befriend makes a and b friends: a asks, b accepts. The friend service learns of new users
// from UserRegistered events, so right after registration it may not know b yet (NotFound):
// that is waited out, as a person retrying would.
func (c *apiClients) befriend(ctx context.Context, a, b *user) error {
	var reqID string
	deadline := time.Now().Add(30 * time.Second)
	err := retry(ctx, 200, func() error {
		res, err := c.friend.SendFriendRequest(ctx, withToken(&friendv1.SendFriendRequestRequest{UserId: b.id}, a.token))
		if connect.CodeOf(err) == connect.CodeNotFound && time.Now().Before(deadline) {
			return connect.NewError(connect.CodeUnavailable, err) // not yet known: retried
		}
		if err != nil {
			return err
		}
		if res.Msg.GetFriend() != nil {
			return nil // already friends
		}
		reqID = res.Msg.GetRequest().GetRequestId()
		return nil
	})
	if err != nil || reqID == "" {
		return err
	}
	return retry(ctx, 10, func() error {
		_, err := c.friend.AcceptFriendRequest(ctx, withToken(&friendv1.AcceptFriendRequestRequest{RequestId: reqID}, b.token))
		return err
	})
}

// firstMessage sends a's first message to b by user id, which works as soon as they are friends
// (the chat service creates the chat if FriendAccepted has not arrived yet), and returns it.
func (c *apiClients) firstMessage(ctx context.Context, a, b *user, clientMsgID string) (*chatv1.Message, error) {
	var msg *chatv1.Message
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := c.chat.SendMessage(ctx, withToken(&chatv1.SendMessageRequest{
			To:          &chatv1.SendMessageRequest_UserId{UserId: b.id},
			ClientMsgId: clientMsgID,
			Text:        "hello from the load generator",
		}, a.token))
		if err == nil {
			msg = res.Msg.GetMessage()
			return msg, nil
		}
		if isGatewayRateLimit(err) {
			return nil, errRateLimited
		}
		code := connect.CodeOf(err)
		if time.Now().After(deadline) || (code != connect.CodeUnavailable && code != connect.CodeFailedPrecondition && code != connect.CodeResourceExhausted) {
			return nil, fmt.Errorf("first message from %s to %s: %w", a.email, b.email, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

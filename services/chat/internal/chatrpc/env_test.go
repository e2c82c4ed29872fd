package chatrpc_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1/chatv1connect"
	friendv1 "github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1/friendv1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/platform/rpctest"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/services/chat/internal/chat"
	"github.com/parleyhq/parley/services/chat/internal/chatcache"
	"github.com/parleyhq/parley/services/chat/internal/chatdb"
	"github.com/parleyhq/parley/services/chat/internal/chatrpc"
	"github.com/parleyhq/parley/services/chat/internal/friendclient"
	"github.com/parleyhq/parley/services/chat/internal/mediaclient"
)

// env is the chat service's real handler stack (logging, authentication, error mapping) over a
// fresh database and the shared Redis, with stand-in friend and media services.
type env struct {
	pool   *pgxpool.Pool
	store  *chatdb.Store
	cache  *chatcache.Cache
	client chatv1connect.ChatServiceClient
	friend *fakeFriend
	media  *fakeMedia
	iss    *authntest.TokenIssuer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	pool := eventstest.NewDB(t, "chat", chatdb.Migrations)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	iss := authntest.New(t)
	verifier := iss.Verifier()

	friend := newFakeFriend(t, verifier)
	store := chatdb.New(pool, events.NewOutbox("chat"))
	cache := chatcache.New(redistest.New(t), time.Minute)
	media := newFakeMedia(t, verifier, store)
	svc := chat.NewService(store, friendclient.New(nil, friend.url, 2*time.Second), cache,
		mediaclient.New(nil, media.url, fakeInternalToken, 2*time.Second), logger)

	srv := server.New(logger, "127.0.0.1:0")
	srv.Mount(chatv1connect.NewChatServiceHandler(chatrpc.NewHandler(svc),
		server.HandlerOptions(logger, nil, authn.NewInterceptor(verifier))...))
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &env{pool: pool, store: store, cache: cache, client: chatv1connect.NewChatServiceClient(hs.Client(), hs.URL), friend: friend, media: media, iss: iss}
}

// user is a test user with a token.
type user struct {
	id    string
	token string
}

func (e *env) newUser(t *testing.T) user {
	id := uuid.NewString()
	return user{id: id, token: e.iss.Token(t, id)}
}

// friends makes two users who are friends with their chat open (FriendAccepted applied), and
// returns them with the chat's id.
func (e *env) friends(t *testing.T) (alice, bob user, chatID string) {
	t.Helper()
	alice, bob = e.newUser(t), e.newUser(t)
	e.setFriends(t, alice, bob, true)
	return alice, bob, chat.ChatID(alice.id, bob.id)
}

// as returns a request carrying u's token.
func as[T any](u user, msg *T) *connect.Request[T] {
	req := connect.NewRequest(msg)
	req.Header().Set("Authorization", "Bearer "+u.token)
	return req
}

// setFriends applies a friend event's effect (what chatevents does on FriendAccepted or
// FriendRemoved) in a transaction.
func (e *env) setFriends(t *testing.T, a, b user, friends bool) {
	t.Helper()
	err := pg.InTx(context.Background(), e.pool, func(tx pgx.Tx) error {
		_, err := e.store.SetFriendship(context.Background(), tx, a.id, b.id, friends)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fakeFriend stands in for the friend service, which lives in another module: it serves
// parley.friend.v1.FriendService/CheckFriendship over h2c gRPC, verifying the forwarded token as
// the real one does and answering from a table of friendships, and records who asked.
type fakeFriend struct {
	friendv1connect.UnimplementedFriendServiceHandler
	url string

	mu      sync.Mutex
	friends map[[2]string]bool
	down    bool
	calls   []string // the user of each call's forwarded token
}

func newFakeFriend(t *testing.T, verifier *authn.Verifier) *fakeFriend {
	f := &fakeFriend{friends: map[[2]string]bool{}}
	mux := http.NewServeMux()
	mux.Handle(friendv1connect.NewFriendServiceHandler(f, connect.WithInterceptors(authn.NewInterceptor(verifier))))
	hs := rpctest.Serve(t, mux)
	f.url = hs.URL
	return f
}

func pairKey(a, b string) [2]string {
	lo, hi := chat.Pair(a, b)
	return [2]string{lo, hi}
}

func (f *fakeFriend) set(a, b user, friends bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.friends[pairKey(a.id, b.id)] = friends
}

func (f *fakeFriend) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeFriend) callers() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeFriend) CheckFriendship(ctx context.Context, req *connect.Request[friendv1.CheckFriendshipRequest]) (*connect.Response[friendv1.CheckFriendshipResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	caller := authn.UserID(ctx)
	f.calls = append(f.calls, caller)
	if f.down {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("friend database down"))
	}
	a, b := req.Msg.GetUserAId(), req.Msg.GetUserBId()
	if caller != a && caller != b {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("you may ask only about your own friendships"))
	}
	return connect.NewResponse(&friendv1.CheckFriendshipResponse{AreFriends: f.friends[pairKey(a, b)]}), nil
}

package notificationrpc_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	notificationv1 "github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1/notificationv1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/rpctest"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/services/notification/internal/notification"
	"github.com/parleyhq/parley/services/notification/internal/notificationdb"
	"github.com/parleyhq/parley/services/notification/internal/notificationrpc"
)

const secret = "s3cret-internal-token"

type env struct {
	pool   *pgxpool.Pool
	iss    *authntest.TokenIssuer
	client notificationv1connect.NotificationServiceClient
	grpc   notificationv1connect.NotificationServiceClient
}

// setup serves the real handler stack (request log, authentication, error mapping) on a fresh
// database, on a local port with h2c, so both the Connect and the gRPC protocols are exercised.
func setup(t *testing.T, internalToken string, options ...func(*notification.Config)) *env {
	return setupAccepting(t, []string{internalToken}, options...)
}

// setupAccepting is setup with every internal token Notify accepts (a rotation's two).
func setupAccepting(t *testing.T, internalTokens []string, options ...func(*notification.Config)) *env {
	t.Helper()
	pool := eventstest.NewDB(t, "notification", notificationdb.Migrations)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	emails, err := notification.NewEmails("http://localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	cfg := notification.Config{Store: notificationdb.New(pool, events.NewOutbox("notification")),
		Emails: emails, MessageIDDomain: "parley.test", DigestDelay: time.Minute, Logger: logger}
	for _, o := range options {
		o(&cfg)
	}
	svc, err := notification.NewService(cfg)
	if err != nil {
		t.Fatal(err)
	}
	iss := authntest.New(t)
	auth := authn.NewInterceptor(iss.Verifier(), notificationrpc.PublicProcedures...)
	srv := server.New(logger, "127.0.0.1:0")
	srv.Mount(notificationv1connect.NewNotificationServiceHandler(notificationrpc.NewHandler(svc, internalTokens),
		server.HandlerOptions(logger, nil, auth)...))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()
	h2c := server.H2CClient()
	t.Cleanup(h2c.CloseIdleConnections)
	return &env{
		pool:   pool,
		iss:    iss,
		client: notificationv1connect.NewNotificationServiceClient(http.DefaultClient, base),
		grpc:   notificationv1connect.NewNotificationServiceClient(h2c, base, connect.WithGRPC()),
	}
}

func internal[T any](secret string, msg *T) *connect.Request[T] {
	req := connect.NewRequest(msg)
	if secret != "" {
		req.Header().Set(authn.InternalTokenHeader, secret)
	}
	return req
}

// While INTERNAL_API_TOKEN is rotated a service accepts the old token and the new one
// (INTERNAL_API_TOKEN_ACCEPTED), and still nothing else.
func TestNotifyAcceptsEveryTokenOfARotation(t *testing.T) {
	e := setupAccepting(t, []string{"the-new-internal-token", "the-old-internal-token"})
	ctx := context.Background()
	for i, token := range []string{"the-new-internal-token", "the-old-internal-token"} {
		req := &notificationv1.NotifyRequest{UserId: uuid.NewString(), Kind: notificationv1.NotificationKind_NOTIFICATION_KIND_SYSTEM,
			Title: "New sign-in", Body: "From a new device.", IdempotencyKey: fmt.Sprintf("rotation:%d", i)}
		if _, err := e.grpc.Notify(ctx, internal(token, req)); err != nil {
			t.Fatalf("Notify with %s: %v", token, err)
		}
	}
	_, err := e.grpc.Notify(ctx, internal("the-old-internal-tokeN", &notificationv1.NotifyRequest{UserId: uuid.NewString(),
		Kind: notificationv1.NotificationKind_NOTIFICATION_KIND_SYSTEM, Title: "x", IdempotencyKey: "rotation:other"}))
	rpctest.WantCode(t, err, connect.CodePermissionDenied, "X-Parley-Internal-Token")
}

func TestNotifyIsInternalAndIdempotent(t *testing.T) {
	e := setup(t, secret)
	ctx := context.Background()
	bob := uuid.NewString()
	req := &notificationv1.NotifyRequest{UserId: bob, Kind: notificationv1.NotificationKind_NOTIFICATION_KIND_SYSTEM,
		Title: "New sign-in", Body: "From a new device.", IdempotencyKey: "auth:login:42"}

	_, err := e.client.Notify(ctx, connect.NewRequest(req))
	rpctest.WantCode(t, err, connect.CodePermissionDenied, "Notify is internal")
	_, err = e.client.Notify(ctx, rpctest.Request(e.iss.Token(t, bob), req))
	rpctest.WantCode(t, err, connect.CodePermissionDenied, "Notify is internal")
	_, err = e.client.Notify(ctx, internal("wrong", req))
	rpctest.WantCode(t, err, connect.CodePermissionDenied, "X-Parley-Internal-Token")

	// Another service calls it over gRPC, as the generated clients do between services.
	first, err := e.grpc.Notify(ctx, internal(secret, req))
	if err != nil {
		t.Fatal(err)
	}
	n := first.Msg.GetNotification()
	if n.GetNotificationId() == "" || n.GetTitle() != "New sign-in" || n.GetBody() != "From a new device." || n.GetCount() != 1 ||
		n.GetKind() != notificationv1.NotificationKind_NOTIFICATION_KIND_SYSTEM || n.GetReadAt() != nil || first.Msg.GetEmailQueued() {
		t.Fatalf("Notify = %v (no email: the address is unknown)", first.Msg)
	}
	again, err := e.client.Notify(ctx, internal(secret, req))
	if err != nil || again.Msg.GetNotification().GetNotificationId() != n.GetNotificationId() {
		t.Fatalf("repeated Notify = %v, %v; want the first notification", again, err)
	}
	list, err := e.client.ListNotifications(ctx, rpctest.Request(e.iss.Token(t, bob), &notificationv1.ListNotificationsRequest{}))
	if err != nil || len(list.Msg.GetNotifications()) != 1 || list.Msg.GetUnreadCount() != 1 {
		t.Fatalf("bob's list after two identical Notify calls: %v, %v", list, err)
	}

	_, err = e.client.Notify(ctx, internal(secret, &notificationv1.NotifyRequest{UserId: "bob", Title: strings.Repeat("t", 201)}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "user_id: must be a UUID")
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "kind: required")
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "title: must be 1 to 200 characters long, got 201")
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "idempotency_key: required")

	off := setup(t, "")
	_, err = off.client.Notify(ctx, internal("anything", req))
	rpctest.WantCode(t, err, connect.CodePermissionDenied, "no INTERNAL_API_TOKEN configured")
}

func TestListMarkReadAndCountAreTheCallers(t *testing.T) {
	e := setup(t, secret)
	ctx := context.Background()
	bob, eve := uuid.NewString(), uuid.NewString()
	bobTok, eveTok := e.iss.Token(t, bob), e.iss.Token(t, eve)

	_, err := e.client.ListNotifications(ctx, connect.NewRequest(&notificationv1.ListNotificationsRequest{}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "access token")
	_, err = e.client.GetUnreadCount(ctx, rpctest.Request("not.a.token", &notificationv1.GetUnreadCountRequest{}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "")

	var ids []string
	for i, title := range []string{"one", "two", "three"} {
		r, err := e.client.Notify(ctx, internal(secret, &notificationv1.NotifyRequest{UserId: bob,
			Kind: notificationv1.NotificationKind_NOTIFICATION_KIND_SYSTEM, Title: title, IdempotencyKey: string(rune('a' + i))}))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.Msg.GetNotification().GetNotificationId())
	}
	page, err := e.client.ListNotifications(ctx, rpctest.Request(bobTok, &notificationv1.ListNotificationsRequest{PageSize: 2}))
	if err != nil || len(page.Msg.GetNotifications()) != 2 || page.Msg.GetNotifications()[0].GetTitle() != "three" ||
		page.Msg.GetNextPageToken() == "" || page.Msg.GetUnreadCount() != 3 {
		t.Fatalf("page 1: %v, %v", page, err)
	}
	next, err := e.client.ListNotifications(ctx, rpctest.Request(bobTok, &notificationv1.ListNotificationsRequest{PageSize: 2, PageToken: page.Msg.GetNextPageToken()}))
	if err != nil || len(next.Msg.GetNotifications()) != 1 || next.Msg.GetNotifications()[0].GetTitle() != "one" || next.Msg.GetNextPageToken() != "" {
		t.Fatalf("page 2: %v, %v", next, err)
	}
	_, err = e.client.ListNotifications(ctx, rpctest.Request(bobTok, &notificationv1.ListNotificationsRequest{PageSize: 2, PageToken: page.Msg.GetNextPageToken(), UnreadOnly: true}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "page_token: belongs to a listing with unread_only=false")
	_, err = e.client.ListNotifications(ctx, rpctest.Request(bobTok, &notificationv1.ListNotificationsRequest{PageSize: 101}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "page_size: must be 1 to 100")

	// Eve sees nothing of bob's and cannot mark it read.
	if list, err := e.client.ListNotifications(ctx, rpctest.Request(eveTok, &notificationv1.ListNotificationsRequest{})); err != nil || len(list.Msg.GetNotifications()) != 0 {
		t.Fatalf("eve's list: %v, %v", list, err)
	}
	if res, err := e.client.MarkNotificationsRead(ctx, rpctest.Request(eveTok, &notificationv1.MarkNotificationsReadRequest{NotificationIds: ids})); err != nil || res.Msg.GetUnreadCount() != 0 {
		t.Fatalf("eve marking bob's: %v, %v", res, err)
	}
	res, err := e.client.MarkNotificationsRead(ctx, rpctest.Request(bobTok, &notificationv1.MarkNotificationsReadRequest{NotificationIds: ids[:1]}))
	if err != nil || res.Msg.GetUnreadCount() != 2 {
		t.Fatalf("bob marking one: %v, %v", res, err)
	}
	unread, err := e.client.ListNotifications(ctx, rpctest.Request(bobTok, &notificationv1.ListNotificationsRequest{UnreadOnly: true}))
	if err != nil || len(unread.Msg.GetNotifications()) != 2 {
		t.Fatalf("unread only: %v, %v", unread, err)
	}
	all, _ := e.client.ListNotifications(ctx, rpctest.Request(bobTok, &notificationv1.ListNotificationsRequest{}))
	if got := all.Msg.GetNotifications()[2]; got.GetNotificationId() != ids[0] || got.GetReadAt() == nil {
		t.Fatalf("the marked notification %v has no read_at", got)
	}
	_, err = e.client.MarkNotificationsRead(ctx, rpctest.Request(bobTok, &notificationv1.MarkNotificationsReadRequest{NotificationIds: ids, All: true}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "not both")
	_, err = e.client.MarkNotificationsRead(ctx, rpctest.Request(bobTok, &notificationv1.MarkNotificationsReadRequest{NotificationIds: []string{"x"}}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "notification_ids[0]: must be a UUID")
	if res, err := e.client.MarkNotificationsRead(ctx, rpctest.Request(bobTok, &notificationv1.MarkNotificationsReadRequest{All: true})); err != nil || res.Msg.GetUnreadCount() != 0 {
		t.Fatalf("mark all: %v, %v", res, err)
	}
	if c, err := e.client.GetUnreadCount(ctx, rpctest.Request(bobTok, &notificationv1.GetUnreadCountRequest{})); err != nil || c.Msg.GetUnreadCount() != 0 {
		t.Fatalf("GetUnreadCount = %v, %v", c, err)
	}
}

func TestPreferencesAndMutesOverRPC(t *testing.T) {
	e := setup(t, secret)
	ctx := context.Background()
	bob := uuid.NewString()
	tok := e.iss.Token(t, bob)

	got, err := e.client.GetPreferences(ctx, rpctest.Request(tok, &notificationv1.GetPreferencesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	p := got.Msg.GetPreferences()
	var kinds []string
	for _, k := range p.GetKinds() {
		kinds = append(kinds, k.GetKind().String()+map[bool]string{true: "+app", false: ""}[k.GetInApp()]+map[bool]string{true: "+email", false: ""}[k.GetEmail()])
	}
	want := "NOTIFICATION_KIND_FRIEND_REQUEST+app+email NOTIFICATION_KIND_FRIEND_ACCEPTED+app+email NOTIFICATION_KIND_MESSAGE+app NOTIFICATION_KIND_SYSTEM+app+email"
	if !p.GetEmailEnabled() || strings.Join(kinds, " ") != want || p.GetUpdatedAt() != nil || len(p.GetMutedChats()) != 0 {
		t.Fatalf("defaults %v: kinds %q", p, kinds)
	}

	upd, err := e.client.UpdatePreferences(ctx, rpctest.Request(tok, &notificationv1.UpdatePreferencesRequest{
		Kinds: []*notificationv1.KindPreference{{Kind: notificationv1.NotificationKind_NOTIFICATION_KIND_MESSAGE, InApp: true, Email: true}}}))
	if err != nil || !upd.Msg.GetPreferences().GetKinds()[2].GetEmail() || upd.Msg.GetPreferences().GetUpdatedAt() == nil || !upd.Msg.GetPreferences().GetEmailEnabled() {
		t.Fatalf("UpdatePreferences = %v, %v", upd, err)
	}
	off := false
	upd, err = e.client.UpdatePreferences(ctx, rpctest.Request(tok, &notificationv1.UpdatePreferencesRequest{EmailEnabled: &off}))
	if err != nil || upd.Msg.GetPreferences().GetEmailEnabled() || !upd.Msg.GetPreferences().GetKinds()[2].GetEmail() {
		t.Fatalf("master switch off = %v, %v; want MESSAGE email kept", upd, err)
	}
	_, err = e.client.UpdatePreferences(ctx, rpctest.Request(tok, &notificationv1.UpdatePreferencesRequest{
		Kinds: []*notificationv1.KindPreference{{Kind: notificationv1.NotificationKind_NOTIFICATION_KIND_UNSPECIFIED}}}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "kinds[0].kind: required")

	chat := uuid.NewString()
	until := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	m, err := e.client.MuteChat(ctx, rpctest.Request(tok, &notificationv1.MuteChatRequest{ChatId: chat, Until: timestamppb.New(until)}))
	if err != nil || m.Msg.GetMutedChat().GetChatId() != chat || !m.Msg.GetMutedChat().GetUntil().AsTime().Equal(until) {
		t.Fatalf("MuteChat = %v, %v", m, err)
	}
	_, err = e.client.MuteChat(ctx, rpctest.Request(tok, &notificationv1.MuteChatRequest{ChatId: chat, Until: timestamppb.New(time.Now().Add(-time.Minute))}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "until: must be in the future")
	_, err = e.client.MuteChat(ctx, rpctest.Request(tok, &notificationv1.MuteChatRequest{ChatId: "general"}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "chat_id: must be a UUID")
	got, _ = e.client.GetPreferences(ctx, rpctest.Request(tok, &notificationv1.GetPreferencesRequest{}))
	if mc := got.Msg.GetPreferences().GetMutedChats(); len(mc) != 1 || mc[0].GetChatId() != chat {
		t.Fatalf("muted chats %v", mc)
	}
	for range 2 {
		if _, err := e.client.UnmuteChat(ctx, rpctest.Request(tok, &notificationv1.UnmuteChatRequest{ChatId: chat})); err != nil {
			t.Fatalf("UnmuteChat: %v", err)
		}
	}
	got, _ = e.client.GetPreferences(ctx, rpctest.Request(tok, &notificationv1.GetPreferencesRequest{}))
	if len(got.Msg.GetPreferences().GetMutedChats()) != 0 {
		t.Fatalf("still muted: %v", got.Msg.GetPreferences().GetMutedChats())
	}
	_, err = e.client.UnmuteChat(ctx, rpctest.Request(tok, &notificationv1.UnmuteChatRequest{}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "chat_id: required")
}

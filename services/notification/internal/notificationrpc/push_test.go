package notificationrpc_test

import (
	"context"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	notificationv1 "github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1"
	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/rpctest"
	"github.com/parleyhq/parley/services/notification/internal/notification"
	"github.com/parleyhq/parley/services/notification/internal/notificationtest"
	"github.com/parleyhq/parley/services/notification/internal/webpush"
)

func TestPushSubscriptionsThroughTheAPI(t *testing.T) {
	ps, sender := notificationtest.Push(t)
	e := setup(t, secret, func(c *notification.Config) {
		c.Push = &notification.PushConfig{Pusher: &webpush.Notifications{Sender: sender}}
	})
	ctx := context.Background()
	bob := uuid.NewString()
	token := e.iss.Token(t, bob, authntest.Session("bobs-laptop-session"))

	res, err := e.client.GetPushPublicKey(ctx, rpctest.Request(token, &notificationv1.GetPushPublicKeyRequest{}))
	if err != nil || res.Msg.GetPublicKey() != sender.PublicKey() {
		t.Fatalf("GetPushPublicKey = %v, %v; want %s", res, err, sender.PublicKey())
	}
	_, err = e.client.RegisterPushSubscription(ctx, connect.NewRequest(&notificationv1.RegisterPushSubscriptionRequest{}))
	rpctest.WantCode(t, err, connect.CodeUnauthenticated, "")

	sub := ps.Subscribe()
	_, err = e.grpc.RegisterPushSubscription(ctx, rpctest.Request(token, &notificationv1.RegisterPushSubscriptionRequest{
		Endpoint: "http://push.example/x", P256Dh: sub.P256dh, Auth: "c2hvcnQ"}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "endpoint: must be an https URL")
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "auth: must be the authentication secret of 16 bytes, got 5")

	reg, err := e.grpc.RegisterPushSubscription(ctx, rpctest.Request(token, &notificationv1.RegisterPushSubscriptionRequest{
		Endpoint: sub.Endpoint, P256Dh: sub.P256dh, Auth: sub.Auth, DeviceLabel: "Firefox on laptop"}))
	if err != nil {
		t.Fatal(err)
	}
	got := reg.Msg.GetSubscription()
	if got.GetEndpoint() != sub.Endpoint || got.GetDeviceLabel() != "Firefox on laptop" || got.GetSubscriptionId() == "" || got.GetCreatedAt() == nil {
		t.Fatalf("registered %v", got)
	}
	var session string
	if err := e.pool.QueryRow(ctx, `SELECT session_id FROM push_subscriptions WHERE subscription_id = $1`, got.GetSubscriptionId()).Scan(&session); err != nil || session != "bobs-laptop-session" {
		t.Fatalf("linked to session %q (%v); want the token's sid", session, err)
	}
	list, err := e.client.ListPushSubscriptions(ctx, rpctest.Request(token, &notificationv1.ListPushSubscriptionsRequest{}))
	if err != nil || len(list.Msg.GetSubscriptions()) != 1 || !proto.Equal(list.Msg.GetSubscriptions()[0], got) {
		t.Fatalf("ListPushSubscriptions = %v, %v", list, err)
	}
	// Someone else sees none of bob's, and cannot remove them.
	alice := e.iss.Token(t, uuid.NewString())
	if l, err := e.client.ListPushSubscriptions(ctx, rpctest.Request(alice, &notificationv1.ListPushSubscriptionsRequest{})); err != nil || len(l.Msg.GetSubscriptions()) != 0 {
		t.Fatalf("alice lists %v, %v", l, err)
	}
	if _, err := e.client.RemovePushSubscription(ctx, rpctest.Request(alice, &notificationv1.RemovePushSubscriptionRequest{SubscriptionId: got.GetSubscriptionId()})); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.RemovePushSubscription(ctx, rpctest.Request(token, &notificationv1.RemovePushSubscriptionRequest{SubscriptionId: "nope"}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "subscription_id: must be a UUID")
	if _, err := e.client.RemovePushSubscription(ctx, rpctest.Request(token, &notificationv1.RemovePushSubscriptionRequest{SubscriptionId: got.GetSubscriptionId()})); err != nil {
		t.Fatal(err)
	}
	if l, _ := e.client.ListPushSubscriptions(ctx, rpctest.Request(token, &notificationv1.ListPushSubscriptionsRequest{})); len(l.Msg.GetSubscriptions()) != 0 {
		t.Fatalf("after removal: %v", l.Msg.GetSubscriptions())
	}

	// The push switches: on and without previews by default; each kept when left out.
	prefs, err := e.client.GetPreferences(ctx, rpctest.Request(token, &notificationv1.GetPreferencesRequest{}))
	if err != nil || !prefs.Msg.GetPreferences().GetPushEnabled() || prefs.Msg.GetPreferences().GetPushPreviews() {
		t.Fatalf("default preferences %v, %v", prefs, err)
	}
	up, err := e.client.UpdatePreferences(ctx, rpctest.Request(token, &notificationv1.UpdatePreferencesRequest{PushPreviews: proto.Bool(true)}))
	if err != nil || !up.Msg.GetPreferences().GetPushEnabled() || !up.Msg.GetPreferences().GetPushPreviews() {
		t.Fatalf("previews on: %v, %v", up, err)
	}
	up, err = e.client.UpdatePreferences(ctx, rpctest.Request(token, &notificationv1.UpdatePreferencesRequest{PushEnabled: proto.Bool(false)}))
	if err != nil || up.Msg.GetPreferences().GetPushEnabled() || !up.Msg.GetPreferences().GetPushPreviews() {
		t.Fatalf("push off: %v, %v", up, err)
	}
}

func TestPushIsRefusedWhereItIsNotConfigured(t *testing.T) {
	e := setup(t, secret)
	token := e.iss.Token(t, uuid.NewString())
	_, err := e.client.GetPushPublicKey(context.Background(), rpctest.Request(token, &notificationv1.GetPushPublicKeyRequest{}))
	rpctest.WantCode(t, err, connect.CodeFailedPrecondition, "push notifications are not configured")
	_, err = e.client.RegisterPushSubscription(context.Background(), rpctest.Request(token, &notificationv1.RegisterPushSubscriptionRequest{}))
	rpctest.WantCode(t, err, connect.CodeFailedPrecondition, "push notifications are not configured")
}

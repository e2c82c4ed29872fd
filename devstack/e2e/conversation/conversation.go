// Package conversation is test support, like platform's *test packages: the conversation that
// the replicated tests hold while every service is restarted under it, and the checks made
// afterwards. Pairs of friends chat, each person on a WebSocket (Device) and sending every 150 ms
// with retries under the same client_msg_id (Sender), while newcomers sign up (Signer); then
// nothing sent is lost or stored twice, every chat's seq runs 1..N without a gap, each sender's
// messages are in send order, every device got everything and every connection ran seq by seq,
// each message notification counts exactly the friend's messages, and every newcomer has a
// profile and exactly one notification of a friend request.
//
// Two tests use it, so that both paths to several replicas check the same things:
// TestReplicas (devstack/e2e/replicas_test.go, two processes of every service) and
// TestLocalOverlayRunsUnderPodman (deploy/manifests, two pods of every service), which lives in
// another module and could not import the scenario from a test file.
package conversation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1/authv1connect"
	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1/chatv1connect"
	"github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1/friendv1connect"
	notificationv1 "github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1/notificationv1connect"
	"github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1/profilev1connect"
)

// Person is a signed-up user whose profile exists.
type Person struct {
	ID, Token, Email, Nickname string
}

// Clients are the generated Connect clients pointed at the gateway, as a Go app would use them.
type Clients struct {
	Auth         authv1connect.AuthServiceClient
	Profile      profilev1connect.ProfileServiceClient
	Friend       friendv1connect.FriendServiceClient
	Chat         chatv1connect.ChatServiceClient
	Notification notificationv1connect.NotificationServiceClient
}

// Scenario is what differs between the tests that hold the conversation: where the gateway is,
// and how long things may take (pods restart more slowly than the dev stack's processes).
type Scenario struct {
	Clients Clients
	// Entry is the gateway's entry point (its balancer, "http://host:port"), where devices
	// reconnect.
	Entry string
	// Wait is how long a check waits for events to flow before it fails.
	Wait time.Duration
	// SendRetry is how long a sender or a newcomer retries a failing call.
	SendRetry time.Duration
	// SignUpEvery is how often a newcomer signs up; MaxNewcomers caps them (0: no cap), since one
	// person asks each to be a friend afterwards and the friend service allows 50 requests an
	// hour.
	SignUpEvery  time.Duration
	MaxNewcomers int
}

// UniqueName is prefix followed by 8 random hex digits.
func UniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// WithToken is a request for msg carrying the access token, if any.
func WithToken[T any](msg *T, token string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	if token != "" {
		req.Header().Set("Authorization", "Bearer "+token)
	}
	return req
}

// Eventually retries f until it succeeds or wait passes, then fails t.
func Eventually[T any](t testing.TB, wait time.Duration, what string, f func() (T, error)) T {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		v, err := f()
		if err == nil {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, wait, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Scenario) eventually(t testing.TB, what string, f func() (bool, error)) {
	t.Helper()
	Eventually(t, s.Wait, what, f)
}

// ListAll reads a chat's whole history, oldest first.
func (s *Scenario) ListAll(t testing.TB, p Person, chatID string) []*chatv1.Message {
	t.Helper()
	var out []*chatv1.Message
	for {
		from := int64(0)
		if len(out) > 0 {
			from = out[len(out)-1].GetSeq()
		}
		res, err := s.Clients.Chat.ListMessages(context.Background(), WithToken(&chatv1.ListMessagesRequest{
			ChatId: chatID, Direction: chatv1.PageDirection_PAGE_DIRECTION_NEWER, FromSeq: from, PageSize: 100}, p.Token))
		if err != nil {
			t.Fatalf("list messages: %v", err)
		}
		out = append(out, res.Msg.GetMessages()...)
		if len(res.Msg.GetMessages()) < 100 {
			return out
		}
	}
}

// Notifications lists p's notifications.
func (s *Scenario) Notifications(ctx context.Context, p Person) ([]*notificationv1.Notification, error) {
	res, err := s.Clients.Notification.ListNotifications(ctx, WithToken(&notificationv1.ListNotificationsRequest{}, p.Token))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetNotifications(), nil
}

// WaitNotification waits until p has a notification of kind (about subject, unless it is empty).
func (s *Scenario) WaitNotification(t testing.TB, p Person, kind notificationv1.NotificationKind, subject string) *notificationv1.Notification {
	t.Helper()
	return Eventually(t, s.Wait, fmt.Sprintf("%s notification for %s", kind, p.Nickname), func() (*notificationv1.Notification, error) {
		list, err := s.Notifications(context.Background(), p)
		if err != nil {
			return nil, err
		}
		for _, n := range list {
			if n.GetKind() == kind && (subject == "" || n.GetSubjectId() == subject) {
				return n, nil
			}
		}
		return nil, fmt.Errorf("not yet among %d notifications", len(list))
	})
}

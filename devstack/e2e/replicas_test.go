package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	"github.com/parleyhq/parley/devstack/e2e/conversation"
	"github.com/parleyhq/parley/devstack/stack"
	"github.com/parleyhq/parley/devstack/stack/stacktest"
)

// TestReplicas runs the stack with two processes of every service, each service's pair behind
// the dev stack's balancer on its usual port (as a Kubernetes Service would put them), drives a
// representative part of the end-to-end scenarios through it, and then restarts every service,
// one replica at a time, while people keep talking (testRollingRestart).
func TestReplicas(t *testing.T) {
	stk = stacktest.Start(t, stack.Options{
		Replicas: 2,
		// A stopping replica stays in its balancer's rotation for a moment after its stop signal,
		// as a pod's endpoint does in a Kubernetes rolling update: callers meet refused
		// connections and must retry.
		RotationLag: 500 * time.Millisecond,
		// As TestEndToEnd; and the senders of the rolling restart send more than a person's
		// per-minute budget (the limit is tested in the gateway's own suite).
		Environ: func() []string {
			return append(os.Environ(), "RATE_LIMIT_AUTH=10000", "RATE_LIMIT_USER=100000", "JANITOR_INTERVAL=2s")
		},
	})
	gatewayURL = stk.GatewayURL()
	t.Cleanup(func() { stk, gatewayURL = nil, "" })
	t.Logf("stack up with %d replicas of every service: gateway %s", stk.Replicas(), gatewayURL)

	t.Run("AuthAndProfileWithGeneratedClients", testAuthAndProfileWithGeneratedClients)
	t.Run("OAuthDevLogin", testOAuthDevLogin)
	t.Run("Sessions", testSessions)
	t.Run("Passkeys", testPasskeys)
	t.Run("FriendsChatAndNotifications", testFriendsChatAndNotifications)
	t.Run("Realtime", testRealtime)
	t.Run("RollingRestart", testRollingRestart)
}

// testRollingRestart: three pairs of friends chat, each person on a WebSocket (one of each pair
// on each gateway replica, so every message crosses gateways through Kafka and Redis), each
// person sending every 150 ms and retrying a failed send with the same client_msg_id until it
// succeeds. Meanwhile every service is restarted replica by replica (stop gracefully, start,
// wait until ready, then the other; a stopping replica stays in its balancer's rotation for
// RotationLag, so some calls are refused and retried). Afterwards:
//
//   - each chat holds exactly the messages the senders were told were sent: seq 1..N without a
//     gap, each client_msg_id once (a retried send stored once), each sender's in send order;
//   - every person's device received every message of their chat, the one stored under that seq;
//   - on every WebSocket connection, the sync replay and the live frames after its sync_done run
//     seq by seq without a gap or a repeat (a gateway that did not fan out an event, a consumer
//     group that skipped or re-sent one, would show here);
//   - every connection a gateway restart closed was closed with 1001 (going away), and every
//     device reconnected through the entry point and resumed with sync;
//   - each person's message notification counts exactly the messages their friend sent (the
//     notification service's consumer group lost and repeated nothing);
//   - everyone who signed up meanwhile (one every 300 ms, a failed Register retried) has a
//     profile, can be asked to be a friend, and gets exactly one notification of that (auth's
//     events reached profile, friend and notification once);
//   - no service crashed (the stack stops on a crash).
func testRollingRestart(t *testing.T) {
	ctx := context.Background()
	c := newClients()
	s := c.scenario()
	const pairs = 3
	var people []person
	for range pairs * 2 {
		people = append(people, signUp(t, c, "roll"))
	}
	chats := make([]string, pairs)
	talkers := make([]conversation.Person, len(people))
	for i := range pairs {
		a, b := people[2*i], people[2*i+1]
		befriend(t, c, a, b)
		chats[i] = eventually(t, "a chat", func() (*chatv1.GetChatResponse, error) {
			return msgOf(c.chat.GetChat(ctx, withToken(&chatv1.GetChatRequest{By: &chatv1.GetChatRequest_UserId{UserId: b.id}}, a.token)))
		}).GetChat().GetChatId()
		talkers[2*i], talkers[2*i+1] = a.conv(), b.conv()
	}

	// One device per person, the first of each pair on gateway replica 1, the second on replica
	// 2; reconnections go through the entry point, as an app's would.
	devices := s.Devices(t, talkers, chats, func(r int) string { return stk.ReplicaURL("gateway", r) })

	// Everyone sends, and new people sign up meanwhile, until everyone has sent a few.
	talk := s.Start(t, talkers, chats)
	begin := time.Now()
	for _, name := range stk.Services() {
		for i := 1; i <= stk.Replicas(); i++ {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			err := stk.RestartReplica(rctx, name, i)
			cancel()
			if err != nil {
				talk.Stop()
				t.Fatalf("restart %s replica %d: %v", name, i, err)
			}
		}
	}
	t.Logf("rolling restart of %v took %s", stk.Services(), time.Since(begin).Round(100*time.Millisecond))
	// A few more messages after the last restart, through the restarted fleet.
	talk.SendMore(t)
	talk.Check(t, devices, chats, talkers[0])

	for _, name := range stk.Services() {
		if n := stk.Restarts(name); n != 0 {
			t.Errorf("%s crashed %d times", name, n)
		}
	}
	if counts := stk.BalancedConnections("gateway"); len(counts) != 2 || counts[0] == 0 || counts[1] == 0 {
		t.Errorf("the gateway's balancer handed out connections %v, want some to each replica", counts)
	}
}

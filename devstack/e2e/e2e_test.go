// Package e2e drives the whole system the way its users do: it starts the dev stack (every
// service as its own process, a throwaway Postgres cluster, Redis, the Kafka-protocol broker, the S3
// server, the mail catcher and the dev OpenID Connect provider, on ports of its own) and talks only
// to the gateway (and, as a browser would, to the OpenID Connect provider's sign-in page) — with the
// generated Connect clients, over gRPC, and with plain HTTP/JSON.
package e2e

import (
	"os"
	"testing"

	"github.com/parleyhq/parley/devstack/stack"
	"github.com/parleyhq/parley/devstack/stack/stacktest"
)

// gatewayURL is the running stack's gateway, e.g. http://127.0.0.1:18080.
var gatewayURL string

// stk is the running stack, for scenarios that need more than the gateway (the mail catcher's API).
var stk *stack.Stack

func TestEndToEnd(t *testing.T) {
	stk = stacktest.Start(t, stack.Options{
		// Every scenario signs people up from one IP; the per-IP sign-in limit (tested in the
		// gateway's own suite) would otherwise cut the suite short. The media janitor runs every
		// 2s so that DeleteAccount can watch a deleted user's objects go.
		Environ: func() []string { return append(os.Environ(), "RATE_LIMIT_AUTH=10000", "JANITOR_INTERVAL=2s") },
	})
	gatewayURL = stk.GatewayURL()
	t.Logf("stack up: gateway %s", gatewayURL)

	t.Run("AuthAndProfileWithGeneratedClients", testAuthAndProfileWithGeneratedClients)
	t.Run("AuthAndProfileWithPlainJSON", testAuthAndProfileWithPlainJSON)
	t.Run("TakenNicknameIsVisible", testTakenNicknameIsVisible)
	t.Run("OAuthDevLogin", testOAuthDevLogin)
	t.Run("Sessions", testSessions)
	t.Run("BrowserRefreshCookie", testBrowserRefreshCookie)
	t.Run("PasswordReset", testPasswordReset)
	t.Run("TwoFactor", testTwoFactor)
	t.Run("Passkeys", testPasskeys)
	t.Run("FriendsChatAndNotifications", testFriendsChatAndNotifications)
	t.Run("Realtime", testRealtime)
	t.Run("TwoGateways", testTwoGateways)
	t.Run("MessageTrace", testMessageTrace)
	t.Run("AvatarAndAttachment", testAvatarAndAttachment)
	t.Run("DeleteAccount", testDeleteAccount)
	t.Run("BrokerOutage", testBrokerOutage)
}

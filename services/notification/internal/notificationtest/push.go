// Package notificationtest holds what the notification service's tests share across its packages:
// a push service to deliver to.
package notificationtest

import (
	"testing"

	"github.com/parleyhq/parley/services/notification/internal/webpush"
	"github.com/parleyhq/parley/services/notification/internal/webpushtest"
)

// Push starts a push service (webpushtest) and returns it with a sender that reaches it: a fresh
// VAPID key (Sender.PublicKey), private endpoints allowed (the push service is on loopback) and
// its certificate trusted.
func Push(t *testing.T) (*webpushtest.Server, *webpush.Sender) {
	t.Helper()
	key, err := webpush.GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	ps := webpushtest.Start(t, key.PublicKey())
	sender, err := webpush.NewSender(webpush.Options{Key: key, Subject: "mailto:ops@parley.test", AllowPrivateEndpoints: true, TLS: ps.TLS()})
	if err != nil {
		t.Fatal(err)
	}
	return ps, sender
}

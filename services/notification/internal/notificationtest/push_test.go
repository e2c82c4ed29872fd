package notificationtest_test

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/parleyhq/parley/services/notification/internal/notificationtest"
	"github.com/parleyhq/parley/services/notification/internal/webpush"
)

// Push's sender reaches its push service, which verifies the VAPID JWT against the sender's key
// and decrypts the payload.
func TestPush(t *testing.T) {
	ps, sender := notificationtest.Push(t)
	sub := ps.Subscribe()
	p256dh, err := base64.RawURLEncoding.DecodeString(sub.P256dh)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := base64.RawURLEncoding.DecodeString(sub.Auth)
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.Send(context.Background(), webpush.Message{Endpoint: sub.Endpoint, P256dh: p256dh, Auth: auth, Payload: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	if got := ps.Pushes(); len(got) != 1 || string(got[0].Payload) != "hello" {
		t.Fatalf("pushes %+v; want one carrying hello", got)
	}
}

package friendclient_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/services/chat/internal/friendclient"
)

// A friend service nobody answers for is Unavailable, never "friends". (Answers, forwarded tokens
// and error mapping are tested through the chat handler in chatrpc, against a stand-in server.)
func TestUnreachableFriendServiceIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	c := friendclient.New(nil, "http://"+addr, time.Second)
	friends, err := c.AreFriends(context.Background(), uuid.NewString(), uuid.NewString())
	if friends || !errors.Is(err, domainerr.ErrUnavailable) {
		t.Fatalf("AreFriends against a closed port = %v, %v; want false, ErrUnavailable", friends, err)
	}
}

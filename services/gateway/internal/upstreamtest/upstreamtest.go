// Package upstreamtest serves the stand-ins for the services behind the gateway in its tests
// (package gateway's routing, package realtime's chat and friend calls).
package upstreamtest

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/parleyhq/parley/platform/server"
)

// Start serves what mount mounts the way services serve (platform/server: h2c, /healthz, and the
// authn interceptor the stand-in's handlers are built with) on a free loopback port until the test
// ends, and returns its base URL.
func Start(t testing.TB, logger *slog.Logger, mount func(*server.Server)) string {
	t.Helper()
	s := server.New(logger, "127.0.0.1:0")
	// Go's HTTP/2 server waits up to a second for peers to answer GOAWAY; leave room for that.
	s.ShutdownTimeout = 5 * time.Second
	mount(s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stand-in upstream: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

package server_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/platform/waittest"
)

// ServeHTTP answers until its context ends, returns nil after a clean shutdown, and when a
// request outlasts the shutdown bound closes it and says so with context.DeadlineExceeded.
func TestServeHTTPShutsDownWithinItsBound(t *testing.T) {
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		_, _ = w.Write([]byte("ok"))
	})
	serve := func() (string, context.CancelFunc, chan error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			done <- server.ServeHTTP(ctx, slog.New(slog.DiscardHandler), ln, h, server.HTTPTimeouts{
				ReadHeader: time.Second, Idle: time.Second, Shutdown: 200 * time.Millisecond,
			})
		}()
		return "http://" + ln.Addr().String(), cancel, done
	}

	url, cancel, done := serve()
	res, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	cancel()
	waittest.Stopped(t, done)

	url, cancel, done = serve()
	go func() {
		if res, err := http.Get(url + "/slow"); err == nil {
			_ = res.Body.Close()
		}
	}()
	<-started
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a request outlasting the shutdown bound: %v; want context.DeadlineExceeded", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeHTTP did not return after its shutdown bound")
	}
	close(release)
}

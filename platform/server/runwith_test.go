package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func TestRunWithStopsEverythingWhenOneWorkerFails(t *testing.T) {
	srv := New(slog.New(slog.NewTextHandler(io.Discard, nil)), "")
	ln := listen(t)
	fail := make(chan struct{})
	otherStopped := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- srv.RunWith(context.Background(), ln,
			func(ctx context.Context) error { <-ctx.Done(); close(otherStopped); return ctx.Err() },
			func(context.Context) error { return nil }, // ends early: stops nothing
			func(context.Context) error { <-fail; return errors.New("relay: broker gone") },
		)
	}()
	res, err := H2CClient().Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatalf("serving alongside the workers: %v", err)
	}
	_ = res.Body.Close()
	close(fail)
	select {
	case err := <-done:
		if err == nil || err.Error() != "relay: broker gone" {
			t.Fatalf("RunWith = %v; want the failing worker's error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("RunWith did not return after a worker failed")
	}
	select {
	case <-otherStopped:
	default:
		t.Fatal("RunWith returned before the other worker stopped")
	}
	if res, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		_ = res.Body.Close()
		t.Fatal("the server still answers after RunWith returned")
	}
}

func TestRunWithEndsCleanlyWithItsContext(t *testing.T) {
	srv := New(slog.New(slog.NewTextHandler(io.Discard, nil)), "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- srv.RunWith(ctx, listen(t), func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunWith after its context ended = %v; want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("RunWith did not return after its context ended")
	}
}

func TestRunWithReportsAListenFailure(t *testing.T) {
	taken := listen(t)
	defer taken.Close()
	srv := New(slog.New(slog.NewTextHandler(io.Discard, nil)), taken.Addr().String())
	if err := srv.RunWith(context.Background(), nil); err == nil {
		t.Fatal("RunWith on a taken address = nil; want the listen error")
	}
}

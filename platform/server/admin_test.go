package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/platform/logging"
	"github.com/parleyhq/parley/platform/proctest"
	"github.com/parleyhq/parley/platform/waittest"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestAdminListenerServesProfilesAndThePublicPortDoesNot(t *testing.T) {
	logger := logging.NewTo(io.Discard, "test", "text", "error")
	public, admin := proctest.FreeAddr(t), proctest.FreeAddr(t)
	s := New(logger, public)
	s.AdminAddr = admin
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	waitListening(t, public)

	if code, body := get(t, "http://"+admin+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("admin /debug/pprof/ = %d %q, want 200 listing the profiles", code, body)
	}
	if code, body := get(t, "http://"+admin+"/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !strings.Contains(body, "goroutine profile") {
		t.Fatalf("admin goroutine profile = %d %.80q", code, body)
	}
	if code, _ := get(t, "http://"+public+"/debug/pprof/"); code != http.StatusNotFound {
		t.Fatalf("public port /debug/pprof/ = %d, want 404: profiles are for the admin listener only", code)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, err := net.DialTimeout("tcp", admin, time.Second); err == nil {
		t.Fatal("the admin listener still accepts connections after the server stopped")
	}
}

func TestNoAdminAddrMeansNoAdminListener(t *testing.T) {
	ln, err := ListenAdmin("")
	if ln != nil || err != nil {
		t.Fatalf("ListenAdmin(\"\") = %v, %v; want no listener and no error", ln, err)
	}
	if err := ServeAdmin(context.Background(), logging.NewTo(io.Discard, "test", "text", "error"), nil); err != nil {
		t.Fatalf("ServeAdmin without a listener: %v, want nil at once", err)
	}
}

func TestAdminAddressInUseFailsTheStart(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s := New(logging.NewTo(io.Discard, "test", "text", "error"), proctest.FreeAddr(t))
	s.AdminAddr = taken.Addr().String()
	err = s.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "admin listener") {
		t.Fatalf("Run with the admin port taken = %v, want an admin listener error", err)
	}
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	waittest.UntilNil(t, "a listener on "+addr, func() error {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
		}
		return err
	})
}

func TestAdminListenerServesExtraRoutes(t *testing.T) {
	ln, err := ListenAdmin(proctest.FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	report := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("detailed report\n")) })
	go func() {
		done <- ServeAdmin(ctx, logging.NewTo(io.Discard, "test", "text", "error"), ln, AdminRoute{Pattern: "GET /readyz", Handler: report})
	}()
	addr := ln.Addr().String()
	if code, body := get(t, "http://"+addr+"/readyz"); code != http.StatusOK || body != "detailed report\n" {
		t.Fatalf("admin /readyz = %d %q", code, body)
	}
	if code, body := get(t, "http://"+addr+"/"); code != http.StatusOK || !strings.Contains(body, "GET /readyz") {
		t.Fatalf("admin index = %d %q, want it to list GET /readyz", code, body)
	}
	if code, _ := get(t, "http://"+addr+"/debug/pprof/"); code != http.StatusOK {
		t.Fatalf("admin /debug/pprof/ = %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeAdmin after cancel: %v", err)
	}
}

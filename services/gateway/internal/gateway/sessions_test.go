package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1/authv1connect"
	"github.com/parleyhq/parley/platform/authntest"
)

// A failing revocation check lets calls through and is logged when it starts failing and when it
// answers again — not per call, and not again when it flaps (a stuck Redis still answers cached
// sessions while new ones fail).
func TestFailingSessionCheckIsLoggedOncePerStateChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var failing atomic.Bool
	e.gateway.SetSessionCheck(func(context.Context, string) (bool, error) {
		if failing.Load() {
			return false, errors.New("redis down")
		}
		return false, nil
	})
	tok := e.iss.Token(t, "user-1", authntest.TTL(time.Minute))
	call := func() {
		t.Helper()
		client := authv1connect.NewAuthServiceClient(http.DefaultClient, e.api)
		req := connect.NewRequest(&authv1.GetMeRequest{})
		req.Header().Set("Authorization", "Bearer "+tok)
		if _, err := client.GetMe(t.Context(), req); err != nil {
			t.Fatalf("a call with the check failing=%v: %v; want it allowed", failing.Load(), err)
		}
	}
	for _, fail := range []bool{true, true, true, false, true, false, true, true, false} {
		failing.Store(fail)
		call()
	}
	count := func(msg string) int {
		e.logs.mu.Lock()
		defer e.logs.mu.Unlock()
		n := 0
		for _, r := range e.logs.records {
			if r["msg"] == msg {
				n++
			}
		}
		return n
	}
	if n := count("cannot check whether sessions were revoked; allowing calls on their token alone until the check answers again"); n != 1 {
		t.Errorf("failing check logged %d times, want once", n)
	}
	if n := count("session revocation checks answer again"); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}
}

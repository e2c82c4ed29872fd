// Package rpctest is what tests of Connect services and of their clients share: a stand-in peer
// served as services serve one another, requests carrying an access token, and the check of a
// call's error. Tokens themselves come from platform/authntest.
package rpctest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Serve serves h on a loopback port over HTTP/1.1 and h2c (HTTP/2 without TLS, how services call
// one another with gRPC) until the test ends. It is for stand-ins of peer services built from a
// generated handler; a service under test is served by platform/server.
func Serve(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.Config.Protocols = new(http.Protocols)
	s.Config.Protocols.SetHTTP1(true)
	s.Config.Protocols.SetUnencryptedHTTP2(true)
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// Refusing serves a stand-in peer that answers every unary call, whatever its procedure, with
// err (a *connect.Error carries its code), until the test ends; it returns the peer's base URL.
// It is for tests of how a client takes a peer's refusals.
func Refusing(t testing.TB, err error) string {
	t.Helper()
	refuse := connect.NewUnaryHandler("/", func(context.Context, *connect.Request[emptypb.Empty]) (*connect.Response[emptypb.Empty], error) {
		return nil, err
	})
	return Serve(t, refuse).URL
}

// Request returns a request for msg carrying token as its bearer access token, or none when
// token is "".
func Request[T any](token string, msg *T) *connect.Request[T] {
	req := connect.NewRequest(msg)
	if token != "" {
		req.Header().Set("Authorization", "Bearer "+token)
	}
	return req
}

// WantCode fails the test unless err is a Connect error with code whose message contains
// msgContains ("" accepts any message).
func WantCode(t testing.TB, err error, code connect.Code, msgContains string) {
	t.Helper()
	var ce *connect.Error
	switch {
	case !errors.As(err, &ce):
		t.Fatalf("error %v; want a Connect error with code %v", err, code)
	case ce.Code() != code:
		t.Fatalf("error %v; want code %v", err, code)
	case !strings.Contains(ce.Message(), msgContains):
		t.Fatalf("error message %q; want it to contain %q", ce.Message(), msgContains)
	}
}

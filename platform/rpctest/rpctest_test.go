package rpctest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/parleyhq/parley/platform/rpctest"
)

// A stand-in served by Serve answers HTTP/1.1 and h2c (prior knowledge, as gRPC between
// services), and sees the token Request put on a request.
func TestServeSpeaksHTTP1AndH2C(t *testing.T) {
	s := rpctest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "%s %s", r.Proto, r.Header.Get("Authorization"))
	}))
	h2c := new(http.Protocols)
	h2c.SetUnencryptedHTTP2(true)
	for name, tc := range map[string]struct {
		client *http.Client
		want   string
	}{
		"http1": {http.DefaultClient, "HTTP/1.1 Bearer tok"},
		"h2c":   {&http.Client{Transport: &http.Transport{Protocols: h2c}}, "HTTP/2.0 Bearer tok"},
	} {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, s.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = rpctest.Request("tok", &struct{}{}).Header()
		res, err := tc.client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body := make([]byte, 64)
		n, _ := res.Body.Read(body)
		_ = res.Body.Close()
		if got := string(body[:n]); got != tc.want {
			t.Errorf("%s: served %q, want %q", name, got, tc.want)
		}
	}
	if h := rpctest.Request("", &struct{}{}).Header(); h.Get("Authorization") != "" {
		t.Errorf("no token: Authorization %q, want none", h.Get("Authorization"))
	}
}

// WantCode passes a matching Connect error and fails anything else.
func TestWantCode(t *testing.T) {
	err := connect.NewError(connect.CodeInvalidArgument, errors.New("nickname: too short"))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "nickname: ")
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "")
	for name, tc := range map[string]struct {
		err  error
		code connect.Code
		msg  string
	}{
		"nil":           {nil, connect.CodeUnknown, ""},
		"not connect":   {errors.New("plain"), connect.CodeUnknown, ""},
		"other code":    {err, connect.CodeNotFound, ""},
		"other message": {err, connect.CodeInvalidArgument, "email"},
	} {
		ft := &fatalRecorder{T: t}
		func() {
			defer func() { _ = recover() }()
			rpctest.WantCode(ft, tc.err, tc.code, tc.msg)
		}()
		if !ft.failed {
			t.Errorf("%s: WantCode passed", name)
		}
	}
}

// fatalRecorder records Fatalf instead of failing the test, and stops the helper as Fatalf does.
type fatalRecorder struct {
	*testing.T
	failed bool
}

func (f *fatalRecorder) Fatalf(string, ...any) { f.failed = true; panic("fatal") }

// Refusing answers any procedure, over gRPC as over Connect, with the error's code and message.
func TestRefusingAnswersEveryCallWithTheError(t *testing.T) {
	url := rpctest.Refusing(t, connect.NewError(connect.CodeUnauthenticated, errors.New("token expired")))
	h2c := new(http.Protocols)
	h2c.SetUnencryptedHTTP2(true)
	for _, opts := range [][]connect.ClientOption{{connect.WithGRPC()}, nil} {
		client := connect.NewClient[emptypb.Empty, emptypb.Empty](&http.Client{Transport: &http.Transport{Protocols: h2c}},
			url+"/parley.test.v1.AnyService/AnyMethod", opts...)
		_, err := client.CallUnary(context.Background(), connect.NewRequest(&emptypb.Empty{}))
		rpctest.WantCode(t, err, connect.CodeUnauthenticated, "token expired")
	}
}

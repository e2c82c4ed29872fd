package balance

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestBalancerRoundRobinSkipsWhatIsOutOrDown: new connections go to the replicas in turn, never
// to one out of rotation, past one that refuses (unless it is terminating); with none left the
// client's connection ends.
func TestBalancerRoundRobinSkipsWhatIsOutOrDown(t *testing.T) {
	var addrs []string
	var servers []*httptest.Server
	for i := range 3 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, i) }))
		t.Cleanup(srv.Close)
		servers = append(servers, srv)
		addrs = append(addrs, strings.TrimPrefix(srv.URL, "http://"))
	}
	b, err := Start("test", "127.0.0.1:0", addrs, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	url := "http://" + b.Addr() + "/"
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	get := func() (string, error) {
		res, err := client.Get(url)
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		return string(body), err
	}
	sequence := func(n int) string {
		var got []string
		for range n {
			s, err := get()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, s)
		}
		return strings.Join(got, "")
	}
	if got := sequence(6); got != "012012" {
		t.Errorf("round robin: %s", got)
	}
	b.SetRotation(1, OutOfRotation)
	if got := sequence(4); strings.Contains(got, "1") || !strings.Contains(got, "0") || !strings.Contains(got, "2") {
		t.Errorf("replica 1 out of rotation, yet: %s", got)
	}
	b.SetRotation(1, InRotation)
	servers[2].Close() // refuses connections now
	if got := sequence(4); strings.Contains(got, "2") || !strings.Contains(got, "0") || !strings.Contains(got, "1") {
		t.Errorf("replica 2 down, yet: %s", got)
	}
	// A terminating replica that refuses: the connection ends, as in the moment between a pod's
	// stop signal and the removal of its endpoint.
	b.SetRotation(2, Terminating)
	b.mu.Lock()
	b.next = 2
	b.mu.Unlock()
	if s, err := get(); err == nil {
		t.Errorf("a terminating replica refused, yet an answer from another: %q", s)
	}
	b.LeaveRotation(2)
	if got := sequence(2); strings.Contains(got, "2") {
		t.Errorf("replica 2 left the rotation, yet: %s", got)
	}
	b.SetRotation(0, OutOfRotation)
	b.SetRotation(1, OutOfRotation)
	if s, err := get(); err == nil {
		t.Errorf("no replica left, yet an answer: %q", s)
	}
	if got := b.AcceptedCounts(); got[0] < 2 || got[1] < 2 || got[2] < 3 || got[0]+got[1]+got[2] != 16 {
		t.Errorf("accepted counts %v", got)
	}
}

// TestBalancerPassesAHalfClose: a client that stops writing still gets the whole answer.
func TestBalancerPassesAHalfClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		in, _ := io.ReadAll(c) // until the client's half-close
		_, _ = c.Write([]byte(strings.ToUpper(string(in))))
	}()
	b, err := Start("test", "127.0.0.1:0", []string{ln.Addr().String()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	c, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	out, err := io.ReadAll(c)
	if err != nil || string(out) != "HELLO" {
		t.Fatalf("answer %q, %v", out, err)
	}
}

package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// countingConn counts the writes made on a connection.
type countingConn struct {
	net.Conn
	mu     *sync.Mutex
	writes *int
}

func (c countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	*c.writes++
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// A call's small body leaves in one write with its headers, as a browser sends it, and arrives
// whole; without oneWrite the same request takes two.
func TestOneWritePerCall(t *testing.T) {
	const body = `{"chat_id":"c","client_msg_id":"m","text":"hello"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ := io.ReadAll(r.Body)
		if string(got) != body || r.ContentLength != int64(len(body)) {
			http.Error(w, "body "+string(got), http.StatusBadRequest)
		}
	}))
	defer srv.Close()

	for _, tc := range []struct {
		name    string
		wrapped bool
		want    int
	}{{"oneWrite", true, 1}, {"plain transport", false, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu     sync.Mutex
				writes int
			)
			tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return countingConn{Conn: c, mu: &mu, writes: &writes}, nil
			}}
			defer tr.CloseIdleConnections()
			var rt http.RoundTripper = tr
			if tc.wrapped {
				rt = oneWrite{tr}
			}
			// A reader net/http cannot see into, as the Connect client's body is.
			req, err := http.NewRequest(http.MethodPost, srv.URL, io.MultiReader(strings.NewReader(body)))
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = int64(len(body))
			res, err := (&http.Client{Transport: rt}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("HTTP %d", res.StatusCode)
			}
			mu.Lock()
			defer mu.Unlock()
			if writes != tc.want {
				t.Fatalf("the request took %d writes, want %d", writes, tc.want)
			}
		})
	}
}

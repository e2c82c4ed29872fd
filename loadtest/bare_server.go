package main

// The bare WebSocket server, the idle-socket baseline: `loadtest bare-ws-server` (hidden) accepts
// upgrades with coder/websocket — the library the gateway uses — and then only blocks in Read per
// connection. Nothing else runs in it, so its memory per connection is the library's and the Go
// runtime's floor.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/coder/websocket"
)

const bareServerCommand = "bare-ws-server"

// runBareServer listens on a free loopback port, prints the address on stdout and serves until
// ctx ends.
func runBareServer(ctx context.Context, stdout io.Writer) error {
	raiseFileLimit()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	// The same runtime readings the services' admin listener gives, for the same comparison.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"parley.v1"}})
		if err != nil {
			return
		}
		defer func() { _ = c.CloseNow() }()
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	})
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: mux}
	fmt.Fprintf(stdout, "%s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

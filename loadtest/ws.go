package main

// WebSocket clients: the message users' sockets, whose every frame is accounted, and idle
// sockets, which only keep their connection alive.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// wsURL turns the gateway's http(s) URL into its WebSocket endpoint.
func wsURL(gatewayURL string) string {
	u := strings.TrimRight(gatewayURL, "/")
	switch {
	case strings.HasPrefix(u, "https://"):
		u = "wss://" + strings.TrimPrefix(u, "https://")
	case strings.HasPrefix(u, "http://"):
		u = "ws://" + strings.TrimPrefix(u, "http://")
	}
	return u + "/ws"
}

// newWSHTTPClient is the client for upgrades: no timeout on the client (coder/websocket refuses
// one; the dial context bounds the handshake).
func newWSHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
}

// errFileLimit marks a dial that failed because this process ran out of file descriptors.
var errFileLimit = errors.New("out of file descriptors (RLIMIT_NOFILE)")

// dialWS opens an authenticated socket (token in the subprotocol list, as a browser does) and,
// when waitReady, reads until the gateway's ready frame. A close by the gateway is reported with
// its code (4008: too many connections for this user).
func dialWS(ctx context.Context, hc *http.Client, url, token string, waitReady bool) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPClient:   hc,
		Subprotocols: []string{"parley.v1", "bearer." + token},
	})
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	if err != nil {
		if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
			return nil, errFileLimit
		}
		return nil, err
	}
	if !waitReady {
		return conn, nil
	}
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			_ = conn.CloseNow()
			if st := websocket.CloseStatus(err); st != -1 {
				return nil, fmt.Errorf("closed by the gateway before ready: %d", st)
			}
			return nil, fmt.Errorf("waiting for ready: %w", err)
		}
		var f wsFrame
		if json.Unmarshal(data, &f) == nil && f.Type == "ready" {
			return conn, nil
		}
	}
}

// readFrames reads sock's frames into the tracker until the connection ends.
func readFrames(conn *websocket.Conn, sock int, t *tracker) {
	for {
		_, data, err := conn.Read(context.Background())
		at := time.Now()
		if err != nil {
			why := err.Error()
			if st := websocket.CloseStatus(err); st != -1 {
				why = fmt.Sprintf("close code %d", st)
			}
			t.closed(sock, why)
			return
		}
		var f wsFrame
		if err := json.Unmarshal(data, &f); err != nil {
			f = wsFrame{Type: "(not json)"}
		}
		t.frame(sock, &f, at)
	}
}

// discardFrames keeps an idle socket alive: reading is what answers the gateway's pings.
func discardFrames(conn *websocket.Conn) {
	for {
		if _, _, err := conn.Read(context.Background()); err != nil {
			return
		}
	}
}

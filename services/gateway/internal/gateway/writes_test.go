package gateway_test

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	profilev1 "github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1/profilev1connect"

	"github.com/parleyhq/parley/services/gateway/internal/gateway"
)

// countingConn counts the writes made on a connection to an upstream.
type countingConn struct {
	net.Conn
	mu     *sync.Mutex
	writes *[]int
}

func (c countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	*c.writes = append(*c.writes, len(p))
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// TestProxiedUnaryCallIsOneWrite checks that a Connect unary call is forwarded to its service
// in one write, headers and body together: two writes per call cost the gateway a system call
// and the service a wake-up and a read (docs/performance.md).
func TestProxiedUnaryCallIsOneWrite(t *testing.T) {
	var (
		mu     sync.Mutex
		writes []int
	)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	upstream := &http.Transport{
		Protocols: protocols,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{Conn: c, mu: &mu, writes: &writes}, nil
		},
	}
	t.Cleanup(upstream.CloseIdleConnections)
	e := newEnv(t, func(o *gateway.Options) { o.Transport = upstream })

	for _, codec := range []struct {
		name string
		opts []connect.ClientOption
	}{{"proto", nil}, {"json", []connect.ClientOption{connect.WithProtoJSON()}}} {
		t.Run(codec.name, func(t *testing.T) {
			client := profilev1connect.NewProfileServiceClient(http.DefaultClient, e.api, codec.opts...)
			mu.Lock()
			writes = nil
			mu.Unlock()
			res, err := client.CheckNickname(context.Background(), connect.NewRequest(&profilev1.CheckNicknameRequest{Nickname: "free"}))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Msg.GetAvailable() {
				t.Fatal("the service's answer did not come back through the gateway")
			}
			mu.Lock()
			defer mu.Unlock()
			if len(writes) != 1 {
				t.Fatalf("the call went to the service in %d writes (%v bytes), want 1", len(writes), writes)
			}
		})
	}
}

// Package balance is the dev stack's stand-in for a Kubernetes Service in front of a service's
// replicas: a round-robin TCP balancer with a rotation the caller controls (docs/devstack.md#replicas).
package balance

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Balancer stands where a Kubernetes Service stands in production: on a service's usual port, it
// hands each new TCP connection to the next of the service's replicas in turn, at the connection
// level as kube-proxy does (so an HTTP/2 or WebSocket connection stays with one replica for its
// life, as it would in a cluster). A replica the stack takes out of rotation (it is being
// restarted) gets no new connections; the ones it has keep flowing until it closes them, as with a
// terminating pod. A replica that refuses the connection (crashed, not listening yet) is skipped
// for the next one; with none left the client's connection is closed. A replica marked
// terminating is still handed connections, and one it refuses is closed rather than passed on:
// what a Kubernetes Service does in the moment between a pod's stop signal and its endpoint's
// removal (Options.RotationLag).
type Balancer struct {
	name string
	ln   net.Listener
	log  *slog.Logger

	mu       sync.Mutex
	backends []*backend
	next     int
	conns    map[net.Conn]struct{} // both ends of every open pair, closed by close
	closed   bool
	wg       sync.WaitGroup
}

type backend struct {
	addr     string
	state    Rotation
	accepted int // connections handed to it so far
}

// Rotation is whether a replica gets new connections.
type Rotation int

const (
	// InRotation: the replica gets new connections; one it refuses goes to the next.
	InRotation Rotation = iota
	// Terminating: still in rotation, but a connection it refuses is closed, not passed on.
	Terminating
	// OutOfRotation: the replica gets no new connections; its open ones go on.
	OutOfRotation
)

// dialTimeout bounds connecting to one replica; on loopback a refusal is immediate.
const dialTimeout = time.Second

// Start listens on addr and hands connections to backends (addresses, in replica order) until
// Close; name is the service's, for the log.
func Start(name, addr string, backends []string, log *slog.Logger) (*Balancer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s balancer: %w", name, err)
	}
	b := &Balancer{name: name, ln: ln, log: log, conns: map[net.Conn]struct{}{}}
	for _, a := range backends {
		b.backends = append(b.backends, &backend{addr: a})
	}
	b.wg.Add(1)
	go b.serve()
	return b, nil
}

func (b *Balancer) serve() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				b.log.Error("balancer stopped accepting", "service", b.name, "err", err)
			}
			return
		}
		if !b.track(c) {
			c.Close()
			return
		}
		b.wg.Add(1)
		go b.handle(c)
	}
}

// track registers a connection so that close can end it; false once the balancer is closed.
func (b *Balancer) track(c net.Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.conns[c] = struct{}{}
	return true
}

func (b *Balancer) untrack(cs ...net.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range cs {
		delete(b.conns, c)
	}
}

func (b *Balancer) handle(client net.Conn) {
	defer b.wg.Done()
	up := b.dial()
	if up == nil || !b.track(up) {
		if up != nil {
			up.Close()
		}
		client.Close()
		b.untrack(client)
		return
	}
	done := make(chan struct{}, 2)
	go splice(up, client, done)
	go splice(client, up, done)
	<-done
	<-done
	client.Close()
	up.Close()
	b.untrack(client, up)
}

// splice copies src to dst until src ends, then passes the end on (a half-close, so a request
// sent after the peer stopped writing still gets its answer).
func splice(dst, src net.Conn, done chan<- struct{}) {
	_, _ = io.Copy(dst, src)
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	} else {
		dst.Close()
	}
	done <- struct{}{}
}

// dial connects to the next replica in rotation that accepts, round robin; nil when none does.
func (b *Balancer) dial() net.Conn {
	b.mu.Lock()
	n := len(b.backends)
	start := b.next
	b.next = (b.next + 1) % n
	b.mu.Unlock()
	for i := range n {
		be := b.backends[(start+i)%n]
		b.mu.Lock()
		state, addr := be.state, be.addr
		b.mu.Unlock()
		if state == OutOfRotation {
			continue
		}
		c, err := net.DialTimeout("tcp", addr, dialTimeout)
		if err != nil {
			if state == Terminating {
				return nil
			}
			continue
		}
		b.mu.Lock()
		be.accepted++
		b.mu.Unlock()
		return c
	}
	return nil
}

// SetRotation sets replica i's (0-based) place in the rotation.
func (b *Balancer) SetRotation(i int, state Rotation) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backends[i].state = state
}

// LeaveRotation takes replica i out of rotation if it is still terminating (not back in already).
func (b *Balancer) LeaveRotation(i int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.backends[i].state == Terminating {
		b.backends[i].state = OutOfRotation
	}
}

// AcceptedCounts is how many connections each replica has been handed.
func (b *Balancer) AcceptedCounts() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]int, len(b.backends))
	for i, be := range b.backends {
		out[i] = be.accepted
	}
	return out
}

// Addr is where the balancer listens.
func (b *Balancer) Addr() string { return b.ln.Addr().String() }

// Close stops listening, ends every connection and waits for the balancer's goroutines.
func (b *Balancer) Close() {
	b.mu.Lock()
	b.closed = true
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.ln.Close()
	b.wg.Wait()
}

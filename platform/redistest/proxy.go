package redistest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy is a TCP proxy in front of the test Redis server that a test can break: Cut makes Redis
// look down, Hang makes it look stuck, Restore brings it back. Point the code under test at Addr
// instead of Addr(); the shared server itself is never touched.
type Proxy struct {
	ln     net.Listener
	target string

	accepts atomic.Int64

	mu     sync.Mutex
	cond   *sync.Cond
	mode   proxyMode
	conns  map[net.Conn]struct{} // both ends of every proxied connection
	closed bool
	wg     sync.WaitGroup
}

type proxyMode int

const (
	modeUp proxyMode = iota
	modeCut
	modeHang
)

// NewProxy starts a proxy to the test Redis server, stopped when the test ends.
func NewProxy(t testing.TB) *Proxy {
	t.Helper()
	return NewProxyTo(t, Addr())
}

// NewProxyTo starts a proxy to any TCP address, stopped when the test ends.
func NewProxyTo(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: proxy listen: %v", err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Go(p.acceptLoop)
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Accepts counts the connections clients opened to the proxy, refused ones included: how often
// the code under test tried to (re)connect.
func (p *Proxy) Accepts() int64 { return p.accepts.Load() }

// Cut drops every proxied connection and, until Restore, closes each new one as soon as it is
// accepted (a Redis that is down: clients see a reset or EOF at once).
func (p *Proxy) Cut() { p.setMode(modeCut) }

// Hang keeps the connections open but forwards nothing in either direction, and holds new
// connections without answering (a Redis that is stuck, or a network that drops packets), until
// Restore or Cut.
func (p *Proxy) Hang() { p.setMode(modeHang) }

// Restore forwards again: held connections resume where they stopped, new ones reach Redis.
func (p *Proxy) Restore() { p.setMode(modeUp) }

func (p *Proxy) setMode(m proxyMode) {
	p.mu.Lock()
	p.mode = m
	var drop []net.Conn
	if m == modeCut {
		for c := range p.conns {
			drop = append(drop, c)
		}
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	for _, c := range drop {
		_ = c.Close()
	}
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	var all []net.Conn
	for c := range p.conns {
		all = append(all, c)
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	_ = p.ln.Close()
	for _, c := range all {
		_ = c.Close()
	}
	p.wg.Wait()
}

func (p *Proxy) acceptLoop() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepts.Add(1)
		if !p.track(c) {
			_ = c.Close()
			continue
		}
		p.wg.Go(func() { p.serve(c) })
	}
}

// track registers c, or reports false when it must be refused (cut or closed).
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.mode == modeCut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	for _, c := range cs {
		delete(p.conns, c)
	}
	p.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
}

// forwarding blocks while the proxy hangs and reports whether data may flow (false: cut or
// closed, the connection must end).
func (p *Proxy) forwarding() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.mode == modeHang && !p.closed {
		p.cond.Wait()
	}
	return p.mode == modeUp && !p.closed
}

func (p *Proxy) serve(client net.Conn) {
	if !p.forwarding() {
		p.untrack(client)
		return
	}
	upstream, err := net.Dial("tcp", p.target)
	if err != nil {
		p.untrack(client)
		return
	}
	if !p.track(upstream) {
		_ = upstream.Close()
		p.untrack(client)
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.pump(upstream, client) })
	wg.Go(func() { p.pump(client, upstream) })
	wg.Wait()
}

// pump copies src to dst, pausing while the proxy hangs; when either side ends, both close.
func (p *Proxy) pump(dst, src net.Conn) {
	defer p.untrack(dst, src)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.forwarding() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF, or closed by Cut or the other side
		}
	}
}

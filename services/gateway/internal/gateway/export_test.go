package gateway

import "time"

// SetReadyClock replaces the clock the readiness cache ages its report by (tests move it past the
// cache interval instead of sleeping).
func SetReadyClock(g *Gateway, now func() time.Time) {
	g.ready.mu.Lock()
	defer g.ready.mu.Unlock()
	g.ready.now = now
}

package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"

	"github.com/labstack/echo/v4"
)

// readyReport is /readyz's JSON body.
type readyReport struct {
	Status string `json:"status"` // "ready" or "not ready"
	// Upstreams maps each configured service to "ok" or why it is not.
	Upstreams map[string]string `json:"upstreams"`
	// NotReady lists the services that did not answer, sorted.
	NotReady []string `json:"not_ready,omitempty"`
	// Redis is informational: rate limiting fails open, so it does not decide readiness.
	Redis string `json:"redis,omitempty"`
	// RealtimeRedis is informational too: the real-time hub's Redis subscription ("up",
	// "down since …", "connecting since …"); WebSockets are refused while it is not up.
	RealtimeRedis string `json:"realtime_redis,omitempty"`
}

// readyz is ready (200) when every configured upstream answers its /healthz within ReadyTimeout,
// and 503 naming the ones that did not otherwise.
func (g *Gateway) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), g.readyTimeout)
	defer cancel()
	rep := readyReport{Status: "ready", Upstreams: make(map[string]string, len(g.upstreams))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, u := range g.upstreams {
		wg.Go(func() {
			res := "ok"
			if err := g.checkUpstream(ctx, u); err != nil {
				res = err.Error()
			}
			mu.Lock()
			rep.Upstreams[u.Name] = res
			if res != "ok" {
				rep.NotReady = append(rep.NotReady, u.Name)
			}
			mu.Unlock()
		})
	}
	if g.limiter != nil {
		wg.Go(func() {
			res := "ok"
			if err := g.limiter.Ping(ctx); err != nil {
				res = "unavailable (rate limits fail open): " + err.Error()
			}
			mu.Lock()
			rep.Redis = res
			mu.Unlock()
		})
	}
	wg.Wait()
	if g.realtimeRedis != nil {
		rep.RealtimeRedis = g.realtimeRedis()
	}
	if len(rep.NotReady) > 0 {
		sort.Strings(rep.NotReady)
		rep.Status = "not ready"
		return c.JSON(http.StatusServiceUnavailable, rep)
	}
	return c.JSON(http.StatusOK, rep)
}

func (g *Gateway) checkUpstream(ctx context.Context, u Upstream) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.URL.String()+"/healthz", nil)
	if err != nil {
		return err
	}
	res, err := g.transport.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("unreachable: %w", err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz answered %s", res.Status)
	}
	return nil
}

package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/logging"
)

// ReadinessCheck is one named dependency of the readiness report.
type ReadinessCheck struct {
	Name string
	// Required checks decide readiness; the others are only reported (Redis: the rate limits
	// fail open, so the gateway serves without it).
	Required bool
	// Check answers nil when the dependency is usable; its error text goes only to the detailed
	// report (admin listener, READYZ_TOKEN), never to the public answer.
	Check func(ctx context.Context) error
}

// AddReadinessCheck adds a dependency to the readiness report (call it before Serve). The
// upstreams (required) and the gateway's Redis, pinged through the rate limiter (reported only),
// are there from New.
func (g *Gateway) AddReadinessCheck(c ReadinessCheck) {
	g.ready.mu.Lock()
	defer g.ready.mu.Unlock()
	g.ready.checks = append(g.ready.checks, c)
	g.ready.last = nil // a report without the new check is stale
}

// ReadyReport is the detailed readiness report: the admin listener's /readyz, and the public
// /readyz for a caller presenting READYZ_TOKEN.
type ReadyReport struct {
	Status    string        `json:"status"` // "ready" or "not ready"
	CheckedAt time.Time     `json:"checked_at"`
	Checks    []CheckResult `json:"checks"`
	// NotReady names the required checks that failed, sorted.
	NotReady []string `json:"not_ready,omitempty"`
}

// CheckResult is one check's outcome.
type CheckResult struct {
	Name     string `json:"name"`
	Required bool   `json:"required"`
	OK       bool   `json:"ok"`
	Error    string `json:"error,omitempty"`
}

// Ready reports whether every required check passed.
func (r *ReadyReport) Ready() bool { return len(r.NotReady) == 0 }

// publicReadyReport is all the public /readyz says: no names, no addresses, no error text.
type publicReadyReport struct {
	Status string `json:"status"`
}

// readiness runs the checks at most once per cache interval, however many callers ask: a flood
// of /readyz costs one fan-out per interval, and callers arriving while a round is running wait
// for it instead of starting their own.
type readiness struct {
	timeout time.Duration // bounds one round
	ttl     time.Duration // how long a round's report is served
	now     func() time.Time

	mu       sync.Mutex
	checks   []ReadinessCheck
	last     *ReadyReport
	inflight chan struct{} // closed when the running round has stored its report
}

// report returns a report no older than the cache interval, running the checks if needed. The
// round runs detached from ctx (a caller that gives up does not cut it short for the others);
// ctx only bounds how long this caller waits.
func (r *readiness) report(ctx context.Context) *ReadyReport {
	r.mu.Lock()
	if r.last != nil && r.now().Sub(r.last.CheckedAt) < r.ttl {
		rep := r.last
		r.mu.Unlock()
		return rep
	}
	done := r.inflight
	if done == nil {
		done = make(chan struct{})
		r.inflight = done
		checks := slices.Clone(r.checks)
		go r.run(context.WithoutCancel(ctx), checks, done)
	}
	r.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		// The caller is gone; what it is told hardly matters, but it must not read as ready.
		return &ReadyReport{Status: "not ready", CheckedAt: r.now(), NotReady: []string{"(request ended before the checks finished)"}}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// run performs one round of checks in parallel, bounded by the timeout, and stores its report.
func (r *readiness) run(ctx context.Context, checks []ReadinessCheck, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	results := make([]CheckResult, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			res := CheckResult{Name: c.Name, Required: c.Required, OK: true}
			if err := c.Check(ctx); err != nil {
				res.OK, res.Error = false, err.Error()
			}
			results[i] = res
		})
	}
	wg.Wait()
	rep := &ReadyReport{Status: "ready", CheckedAt: r.now(), Checks: results}
	for _, res := range results {
		if res.Required && !res.OK {
			rep.NotReady = append(rep.NotReady, res.Name)
		}
	}
	if len(rep.NotReady) > 0 {
		slices.Sort(rep.NotReady)
		rep.Status = "not ready"
	}
	r.mu.Lock()
	r.last = rep
	r.inflight = nil
	r.mu.Unlock()
	close(done)
}

// readyz is the public probe: 200 {"status":"ready"} when every required check passed, else 503
// {"status":"not ready"} — nothing else, so the public learns no service names, addresses or
// errors. A caller presenting READYZ_TOKEN as a bearer token gets the detailed report. The
// failing checks always go on the access-log line.
func (g *Gateway) readyz(c echo.Context) error {
	rep := g.ready.report(c.Request().Context())
	c.Response().Header().Set("Cache-Control", "no-store")
	status := http.StatusOK
	if !rep.Ready() {
		status = http.StatusServiceUnavailable
		logging.AddAttrs(c.Request().Context(), slog.Any("not_ready", rep.NotReady))
	}
	if g.readyTokenMatches(c.Request()) {
		return c.JSON(status, rep)
	}
	return c.JSON(status, publicReadyReport{Status: rep.Status})
}

// readyTokenMatches reports whether r carries READYZ_TOKEN as its bearer token, compared so that
// neither its content nor its length leaks (authn.SecretEqual; an unset token matches nothing).
func (g *Gateway) readyTokenMatches(r *http.Request) bool {
	got := authn.BearerToken(r.Header.Get("Authorization"))
	return got != "" && authn.SecretEqual(got, g.readyToken)
}

// ReadyDetailsHandler serves the detailed readiness report (200 when ready, else 503) for the
// admin listener (ADMIN_ADDR), which only operators reach. It shares the public probe's cache.
func (g *Gateway) ReadyDetailsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := g.ready.report(r.Context())
		status := http.StatusOK
		if !rep.Ready() {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(rep)
	})
}

// upstreamCheck is the readiness check of one service: its /healthz answers 200.
func (g *Gateway) upstreamCheck(u Upstream) ReadinessCheck {
	return ReadinessCheck{Name: u.Name, Required: true, Check: func(ctx context.Context) error {
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
	}}
}

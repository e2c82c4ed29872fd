package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// SetSessionCheck installs how the gateway learns that a session was revoked (the real-time hub
// keeps the marks, from auth's SessionRevoked events). Access tokens are short-lived but valid
// until they expire; with the check, a logged-out or stolen session's tokens are refused at once on
// every API call through the gateway. The check must answer quickly (the hub's gives up after
// REALTIME_REVOCATION_CHECK_TIMEOUT): it runs on every authenticated call.
//
// When it fails (Redis down or stuck), the call is allowed on the token alone: availability over a
// window of at most the token's remaining lifetime, as with rate limits; the hub still refuses the
// revocations it remembers. That is logged when checks start failing and when they answer again,
// not per call (see checkHealth).
func (g *Gateway) SetSessionCheck(revoked func(ctx context.Context, sessionID string) (bool, error)) {
	health := &checkHealth{}
	g.sessionRevoked = func(ctx context.Context, sessionID string) (bool, error) {
		ok, err := revoked(ctx, sessionID)
		health.record(ctx, g.logger, err)
		return ok, err
	}
}

// checkHealthLogEvery bounds the "checks failing" warnings when the state flaps (a stuck Redis
// connection still answers cached sessions while new ones fail).
const checkHealthLogEvery = 10 * time.Second

// checkHealth logs the revocation check's state changes: a warning when it starts failing (at most
// every checkHealthLogEvery) and an info line when it answers again after a logged warning.
type checkHealth struct {
	mu       sync.Mutex
	failing  bool
	warned   bool // a warning was logged and its recovery not yet
	lastWarn time.Time
}

func (h *checkHealth) record(ctx context.Context, log *slog.Logger, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err != nil && !h.failing:
		h.failing = true
		if now := time.Now(); now.Sub(h.lastWarn) >= checkHealthLogEvery {
			h.lastWarn, h.warned = now, true
			log.WarnContext(ctx, "cannot check whether sessions were revoked; allowing calls on their token alone until the check answers again",
				slog.Any("error", err))
		}
	case err == nil && h.failing:
		h.failing = false
		if h.warned {
			h.warned = false
			log.InfoContext(ctx, "session revocation checks answer again")
		}
	}
}

// sessionEnded reports a revoked session. Without a check, or when it fails, the token alone
// decides (see SetSessionCheck).
func (g *Gateway) sessionEnded(ctx context.Context, sessionID string) bool {
	if g.sessionRevoked == nil || sessionID == "" {
		return false
	}
	revoked, err := g.sessionRevoked(ctx, sessionID)
	return err == nil && revoked
}

package gateway

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// SetSessionCheck installs how the gateway learns that a session was revoked (the real-time hub
// keeps the marks, from auth's SessionRevoked events). Access tokens are short-lived but valid
// until they expire; with the check, a logged-out or stolen session's tokens are refused at once on
// every API call through the gateway. The check must answer quickly (the hub's gives up after
// REALTIME_REVOCATION_CHECK_TIMEOUT): it runs on every authenticated call.
//
// When it fails (Redis down or stuck), the call is allowed on the token alone: availability over a
// window of at most the token's remaining lifetime, as with rate limits; the hub still refuses the
// revocations it remembers. That is logged once when checks start failing and once when they
// answer again, not per call.
func (g *Gateway) SetSessionCheck(revoked func(ctx context.Context, sessionID string) (bool, error)) {
	var failing atomic.Bool
	g.sessionRevoked = func(ctx context.Context, sessionID string) (bool, error) {
		ok, err := revoked(ctx, sessionID)
		switch {
		case err != nil && failing.CompareAndSwap(false, true):
			g.logger.WarnContext(ctx, "cannot check whether sessions were revoked; allowing calls on their token alone until the check answers again",
				slog.Any("error", err))
		case err == nil && failing.CompareAndSwap(true, false):
			g.logger.InfoContext(ctx, "session revocation checks answer again")
		}
		return ok, err
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

// SetRealtimeRedisState installs how readiness reports the real-time hub's Redis subscription
// (Hub.RedisState, formatted). It is informational: without Redis the API works.
func (g *Gateway) SetRealtimeRedisState(state func() string) { g.realtimeRedis = state }

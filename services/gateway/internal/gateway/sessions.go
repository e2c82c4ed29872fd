package gateway

import (
	"context"
	"log/slog"
)

// SetSessionCheck installs how the gateway learns that a session was revoked (the real-time hub
// keeps the marks, from auth's SessionRevoked events). Access tokens are short-lived but valid
// until they expire; with the check, a logged-out or stolen session's tokens are refused at once on
// every API call through the gateway.
func (g *Gateway) SetSessionCheck(revoked func(ctx context.Context, sessionID string) (bool, error)) {
	g.sessionRevoked = revoked
}

// sessionEnded reports a revoked session. Without a check, or when it fails (Redis down), the
// token alone decides: availability over a window of minutes, as with rate limits.
func (g *Gateway) sessionEnded(ctx context.Context, sessionID string) bool {
	if g.sessionRevoked == nil || sessionID == "" {
		return false
	}
	revoked, err := g.sessionRevoked(ctx, sessionID)
	if err != nil {
		g.logger.WarnContext(ctx, "cannot check whether the session was revoked; allowing the call", slog.Any("error", err))
		return false
	}
	return revoked
}

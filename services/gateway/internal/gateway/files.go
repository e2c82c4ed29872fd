package gateway

import (
	"context"
	"net/http"
	"regexp"

	"github.com/labstack/echo/v4"
)

// FilesPrefix is where the media service's downloads live: GET/HEAD
// /media/files/<file id>/<original|64|256>[?expires=…&sig=…]. The gateway forwards them unchanged
// and without a token check: avatars are public by design, and every other file's URL carries the
// media service's own signature and expiry, which media checks (docs/media.md). Browsers load these
// URLs from <img> tags, which cannot send an Authorization header.
const FilesPrefix = mediaPrefix + "files/"

// mediaPrefix is the media service's part of the gateway's paths (only FilesPrefix is routed).
const mediaPrefix = "/media/"

// WebSocketPath is where package realtime's endpoint is mounted (realtime.Path), reserved here
// since realtime imports this package, not the other way round.
const WebSocketPath = "/ws"

// filePath is the only shape forwarded, so nothing but a file id and a known variant reaches media.
var filePath = regexp.MustCompile(`^/media/files/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/(original|64|256)$`)

func (g *Gateway) serveFile(c echo.Context) error {
	r := c.Request()
	media, ok := g.routes.byName["media"]
	if !ok || !filePath.MatchString(r.URL.Path) {
		return c.String(http.StatusNotFound, "not found\n")
	}
	if !g.allow(c, Procedure{Path: r.URL.Path}, "") { // per client IP, like other anonymous calls
		return nil
	}
	ctx := context.WithValue(r.Context(), targetKey{}, proxyTarget{upstream: media, proc: Procedure{Path: r.URL.Path}})
	g.proxy.ServeHTTP(c.Response(), r.WithContext(ctx))
	return nil
}

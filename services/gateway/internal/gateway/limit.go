package gateway

import "github.com/labstack/echo/v4"

// LimitPerIP is middleware applying the anonymous per-IP rate limit (RATE_LIMIT_USER per window)
// to a route outside /api, such as the WebSocket upgrade: it is accepted before any token is
// checked, so without a limit one client could hold thousands of unauthenticated sockets.
func (g *Gateway) LimitPerIP() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !g.allow(c, Procedure{Path: c.Path()}, "") {
				return nil
			}
			return next(c)
		}
	}
}

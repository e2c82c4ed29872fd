package gateway

import (
	"embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// accountPages are the pages the links in Parley's emails open — confirm an email address, choose
// a new password — built into the gateway so those links work before any web client is served
// (issue 11 brings the real one, which then serves the same paths).
//
//go:embed accountpages
var accountPages embed.FS

// accountPageHeaders keep the pages' tokens to themselves: scripts only from this origin (none
// inline), no Referer to anyone, never framed, never cached.
var accountPageHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	"Referrer-Policy":        "no-referrer",
	"X-Content-Type-Options": "nosniff",
	"Cache-Control":          "no-store",
}

// mountAccountPages serves /verify-email, /reset-password and their script and style sheet.
func mountAccountPages(e *echo.Echo) {
	for path, file := range map[string]string{
		"/verify-email":        "account.html",
		"/reset-password":      "account.html",
		"/account/account.js":  "account.js",
		"/account/account.css": "account.css",
	} {
		e.GET(path, func(c echo.Context) error {
			for k, v := range accountPageHeaders {
				c.Response().Header().Set(k, v)
			}
			http.ServeFileFS(c.Response(), c.Request(), accountPages, "accountpages/"+file)
			return nil
		})
	}
}

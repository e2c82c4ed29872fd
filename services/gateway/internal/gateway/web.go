package gateway

import (
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"

	"github.com/labstack/echo/v4"
)

const placeholderPage = `Parley gateway is up.

The API is at /api/<package>.<Service>/<Method> (Connect, gRPC and gRPC-Web),
for example POST /api/parley.auth.v1.AuthService/Login.
Probes: /healthz (live), /readyz (ready).
The web client is not built yet; set WEB_DIR to serve it here. Until then the
links in Parley's emails open /verify-email and /reset-password, built in.
`

// mountWeb serves the web client's files from dir at / (with index.html for unknown paths, so a
// single-page app's routes work), or, when there is no client yet, a short text page and the
// built-in account pages the emails link to.
func (g *Gateway) mountWeb(e *echo.Echo, dir string) {
	if dir == "" {
		e.GET("/", func(c echo.Context) error {
			return c.String(http.StatusOK, placeholderPage)
		})
		mountAccountPages(e)
		return
	}
	fsys := os.DirFS(dir)
	files := http.FileServerFS(fsys)
	e.GET("/*", func(c echo.Context) error {
		w, r := c.Response(), c.Request()
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name != "" && !exists(fsys, name) {
			http.ServeFileFS(w, r, fsys, "index.html") // a client-side route
			return nil
		}
		files.ServeHTTP(w, r)
		return nil
	})
}

func exists(fsys fs.FS, name string) bool {
	_, err := fs.Stat(fsys, name)
	return err == nil
}

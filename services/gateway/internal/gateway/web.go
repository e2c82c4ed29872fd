package gateway

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

const placeholderPage = `Parley gateway is up.

The API is at /api/<package>.<Service>/<Method> (Connect, gRPC and gRPC-Web),
for example POST /api/parley.auth.v1.AuthService/Login.
Probes: /healthz (live), /readyz (ready).
The web client is not built yet; set WEB_DIR to serve it here. Until then the
links in Parley's emails open /verify-email and /reset-password, built in.
`

// Cache lifetimes of the app's files. Vite names everything under assets/ after a hash of its
// content, so a name never changes meaning and may be kept for good; every other file
// (index.html above all, which names the current assets) is revalidated on each use, so a new
// build is picked up at the next load.
const (
	cacheAssets = "public, max-age=31536000, immutable"
	cacheOther  = "no-cache"
	assetsDir   = "assets/"
)

// mountWeb serves the web client's files from dir at / (with index.html for unknown paths, so a
// single-page app's routes work), or, when there is no client yet, a short text page and the
// built-in account pages the emails link to.
func (g *Gateway) mountWeb(e *echo.Echo, dir string, csp webPolicy) error {
	if dir == "" {
		e.GET("/", func(c echo.Context) error {
			return c.String(http.StatusOK, placeholderPage)
		})
		mountAccountPages(e)
		return nil
	}
	if err := checkWebDir(dir); err != nil {
		return err
	}
	w := &webApp{dir: dir, cspHead: csp.head, cspTail: csp.tail}
	// Scripts, styles and pages compress to a fraction (the app's size budget is counted gzipped,
	// docs/gateway.md); a range request is answered as it is, its offsets being the file's, and a
	// file already compressed (images, fonts, archives) as it is, gzip only costing time there.
	gzip := middleware.GzipWithConfig(middleware.GzipConfig{
		MinLength: 1024,
		Skipper: func(c echo.Context) bool {
			r := c.Request()
			return r.Header.Get("Range") != "" || compressedExt[strings.ToLower(path.Ext(r.URL.Path))]
		},
	})
	e.GET("/*", w.serve, gzip)
	e.HEAD("/*", w.serve)
	return nil
}

// compressedExt are the extensions of formats compressed already, which gzip would not shrink.
var compressedExt = map[string]bool{
	".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".webp": true, ".avif": true,
	".woff": true, ".woff2": true, ".gz": true, ".br": true, ".zst": true, ".zip": true,
	".mp3": true, ".mp4": true, ".webm": true, ".ogg": true,
}

type webApp struct {
	dir string
	// The policy is cspHead, the page's own WebSocket origins, cspTail.
	cspHead, cspTail string
}

// serve answers GET and HEAD for every path no other route took: a file of the app, index.html
// for a page the app routes itself, or 404.
func (a *webApp) serve(c echo.Context) error {
	w, r := c.Response(), c.Request()
	h := w.Header()
	h.Set("Content-Security-Policy", a.policy(r.Host))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")

	clean := path.Clean("/" + r.URL.Path)
	name := strings.TrimPrefix(clean, "/")
	if name == "" {
		name = "index.html"
	}
	if a.serveFile(w, r, name) {
		return nil
	}
	if reservedPath(clean) || !acceptsHTML(r) {
		h.Set("Cache-Control", cacheOther)
		return c.String(http.StatusNotFound, "not found\n")
	}
	if !a.serveFile(w, r, "index.html") { // removed while the gateway runs
		return c.String(http.StatusNotFound, "not found\n")
	}
	return nil
}

// serveFile answers with the regular file name, reporting false when there is none (a directory
// is not listed: it counts as missing). http.ServeContent answers ranges, conditional requests
// and HEAD.
func (a *webApp) serveFile(w http.ResponseWriter, r *http.Request, name string) bool {
	// OpenInRoot refuses every way out of the directory: "..", absolute names, and symbolic links
	// that lead outside it. The directory is looked up again each time, so a rebuild that
	// replaces it is served at once.
	f, err := os.OpenInRoot(a.dir, name)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	if strings.HasPrefix(name, assetsDir) {
		w.Header().Set("Cache-Control", cacheAssets)
	} else {
		w.Header().Set("Cache-Control", cacheOther)
	}
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
	return true
}

// policy is the Content-Security-Policy for a page asked for at host: the WebSocket (/ws) at the
// page's own host is named with both schemes, since browsers before CSP Level 3 do not count
// ws: and wss: as 'self'. A Host that is not a plain host[:port] is left out.
func (a *webApp) policy(host string) string {
	if !hostPattern.MatchString(host) {
		return a.cspHead + a.cspTail
	}
	return a.cspHead + " ws://" + host + " wss://" + host + a.cspTail
}

// reservedPath reports the paths that belong to the gateway, not to the app: a miss there is a
// 404 even for a browser, never the app's page (an API base URL or a media link gone wrong should
// show as what it is).
func reservedPath(p string) bool {
	for _, prefix := range []string{APIPrefix + "/", mediaPrefix, "/account/", assetsDirPath} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	switch p {
	case APIPrefix, WebSocketPath, "/healthz", "/readyz":
		return true
	}
	_, isProcedure := ParseProcedure(p) // a Connect base URL without /api
	return isProcedure
}

const assetsDirPath = "/" + assetsDir

// acceptsHTML reports whether the request would take an HTML page (a browser's navigation), so
// that scripts, images and API clients asking for a missing name get a 404 rather than the page.
func acceptsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, "text/html") {
			return true
		}
	}
	return false
}

// WebSources are the origins besides its own that the web app's Content-Security-Policy lets it
// reach: the S3 endpoint its uploads are posted to and the origin media's links point at.
type WebSources struct {
	// S3PublicEndpoint is the S3 endpoint as browsers reach it (media's S3_PUBLIC_ENDPOINT):
	// presigned POSTs go there, and images may be shown from there.
	S3PublicEndpoint string
	// S3Variable is the variable S3PublicEndpoint was read from, which an error names
	// (config.S3Endpoints.BrowserS3Variable); "" means S3_PUBLIC_ENDPOINT.
	S3Variable string
	// MediaPublicURL is where media's download links point (media's MEDIA_PUBLIC_URL), when not
	// at the gateway's own origin.
	MediaPublicURL string
}

// CheckWeb refuses a WEB_DIR without the app's index.html and sources that are not plain http(s)
// origins, naming the variable: what New would refuse, for the configuration check before
// anything connects.
func CheckWeb(dir string, src WebSources) error {
	_, err := webCSP(src)
	if dir != "" {
		err = errors.Join(err, checkWebDir(dir))
	}
	return err
}

func checkWebDir(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		return fmt.Errorf("WEB_DIR %s: no index.html (build the app: make web): %w", dir, err)
	}
	return nil
}

// webPolicy is the app's Content-Security-Policy around the connect-src sources that depend on the
// request (webApp.policy).
type webPolicy struct{ head, tail string }

// webCSP is the app's Content-Security-Policy: no inline script or style, nothing framed or
// framing it, connections to its own origin (the API and the WebSocket), the upload endpoint and
// media's downloads only, images from its own origin, blob: and data: (previews before upload)
// and the media and S3 origins.
func webCSP(src WebSources) (webPolicy, error) {
	img := []string{"'self'", "blob:", "data:"}
	connect := []string{"'self'"}
	for _, v := range []struct{ name, url string }{
		{cmp.Or(src.S3Variable, "S3_PUBLIC_ENDPOINT"), src.S3PublicEndpoint}, {"MEDIA_PUBLIC_URL", src.MediaPublicURL},
	} {
		if v.url == "" {
			continue
		}
		o, err := originOf(v.url)
		if err != nil {
			return webPolicy{}, fmt.Errorf("%s %q: %w", v.name, v.url, err)
		}
		if !slices.Contains(connect, o) {
			img = append(img, o)
			connect = append(connect, o)
		}
	}
	return webPolicy{
		head: "default-src 'self'; script-src 'self'; style-src 'self'; img-src " + strings.Join(img, " ") +
			"; connect-src " + strings.Join(connect, " "),
		tail: "; font-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
	}, nil
}

// originOf is rawURL's scheme://host[:port], refusing anything but an absolute http(s) URL with
// a plain host (nothing that could end the policy's directive).
func originOf(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", errors.New("want an http:// or https:// URL")
	}
	if !hostPattern.MatchString(u.Host) {
		return "", errors.New("want a host name or address, and a port")
	}
	return u.Scheme + "://" + u.Host, nil
}

var hostPattern = regexp.MustCompile(`^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$`)

package gateway_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/services/gateway/internal/gateway"
)

type nopVerifier struct{}

func (nopVerifier) Verify(context.Context, string) (authn.Principal, error) {
	return authn.Principal{}, errors.New("no tokens here")
}

// browserGet is a GET as a browser navigating to url sends it.
func browserGet(t *testing.T, url string) *http.Request {
	t.Helper()
	req := mustGet(t, url)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	return req
}

// webDir writes a small built app: index.html, a hashed asset, a file at the top, a directory,
// and a symbolic link to a file outside the directory.
func webDir(t *testing.T) string {
	t.Helper()
	outside := t.TempDir()
	dir := filepath.Join(t.TempDir(), "dist")
	files := map[string]string{
		"index.html":                "<!doctype html><h1>parley</h1>",
		"assets/index-B2xk9Qz1.js":  "console.log(1)",
		"assets/index-D4c3Yq7a.css": "body{}",
		"favicon.svg":               "<svg/>",
		"assets/vendor-Xy12Ab34.js": strings.Repeat("export const x = 1;\n", 500),
		"docs/guide/page.txt":       "a file in a directory",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(outside, "secret.txt")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "leak.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "elsewhere")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestWebAppFilesAndCaching(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *gateway.Options) { o.WebDir = webDir(t) })
	for _, tc := range []struct {
		path, body, cache, contentType string
	}{
		{"/", "<!doctype html><h1>parley</h1>", "no-cache", "text/html"},
		{"/index.html", "<!doctype html><h1>parley</h1>", "no-cache", "text/html"},
		{"/assets/index-B2xk9Qz1.js", "console.log(1)", "public, max-age=31536000, immutable", "text/javascript"},
		{"/assets/index-D4c3Yq7a.css", "body{}", "public, max-age=31536000, immutable", "text/css"},
		{"/favicon.svg", "<svg/>", "no-cache", "image/svg+xml"},
	} {
		res, body := do(t, mustGet(t, e.url+tc.path))
		if res.StatusCode != http.StatusOK || string(body) != tc.body {
			t.Errorf("GET %s = %d %q, want %q", tc.path, res.StatusCode, body, tc.body)
		}
		if got := res.Header.Get("Cache-Control"); got != tc.cache {
			t.Errorf("GET %s: Cache-Control %q, want %q", tc.path, got, tc.cache)
		}
		if got := res.Header.Get("Content-Type"); !strings.HasPrefix(got, tc.contentType) {
			t.Errorf("GET %s: Content-Type %q, want %s", tc.path, got, tc.contentType)
		}
	}
	head, err := http.NewRequestWithContext(t.Context(), http.MethodHead, e.url+"/assets/index-B2xk9Qz1.js", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, body := do(t, head)
	if res.StatusCode != http.StatusOK || len(body) != 0 || res.Header.Get("Content-Length") != "14" ||
		res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Errorf("HEAD asset = %d, %d bytes, Content-Length %q, Cache-Control %q", res.StatusCode, len(body),
			res.Header.Get("Content-Length"), res.Header.Get("Cache-Control"))
	}
}

// A page the app routes itself gets index.html when a browser navigates to it; a missing script,
// image or anything under the gateway's own paths is a 404, never the page.
func TestWebAppClientRoutesAndGatewayPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *gateway.Options) { o.WebDir = webDir(t) })
	const page = "<!doctype html><h1>parley</h1>"
	for _, path := range []string{"/chats/42", "/settings/profile/", "/oauth/callback?code=x&state=y", "/docs", "/docs/guide"} {
		res, body := do(t, browserGet(t, e.url+path))
		if res.StatusCode != http.StatusOK || string(body) != page || res.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("navigate to %s = %d %q (Cache-Control %q), want the app's page", path, res.StatusCode, body, res.Header.Get("Cache-Control"))
		}
	}
	for _, path := range []string{"/chats/42", "/docs", "/docs/guide/", "/missing.js"} {
		if res, body := do(t, mustGet(t, e.url+path)); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s without text/html = %d %q, want 404", path, res.StatusCode, body)
		}
	}
	for _, path := range []string{
		"/assets/index-old.js", "/media/other", "/media/files/x/original", "/ws", "/api", "/api/nope",
		"/parley.auth.v1.AuthService/Login", "/account/account.js",
	} {
		res, body := do(t, browserGet(t, e.url+path))
		if res.StatusCode != http.StatusNotFound || bytes.Contains(body, []byte("parley</h1>")) {
			t.Errorf("navigate to %s = %d %q, want a 404 of the gateway", path, res.StatusCode, body)
		}
	}
	if res, body := do(t, browserGet(t, e.url+"/healthz")); res.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Errorf("/healthz = %d %q", res.StatusCode, body)
	}
}

// Nothing outside WEB_DIR is served, whatever the path or a link inside it says, and no
// directory is listed.
func TestWebAppStaysInItsDirectory(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *gateway.Options) { o.WebDir = webDir(t) })
	for _, path := range []string{"/leak.txt", "/elsewhere/secret.txt", "/../secret.txt", "/%2e%2e/secret.txt", "/docs/..%2f..%2fsecret.txt"} {
		req := mustGet(t, e.url+"/")
		req.URL.Opaque = path // sent exactly as written, not cleaned by the client
		res, body := do(t, req)
		if res.StatusCode != http.StatusNotFound || bytes.Contains(body, []byte("secret")) {
			t.Errorf("GET %s = %d %q, want 404", path, res.StatusCode, body)
		}
	}
	for _, path := range []string{"/docs/", "/docs/guide/", "/assets/"} {
		res, body := do(t, mustGet(t, e.url+path))
		if res.StatusCode != http.StatusNotFound || bytes.Contains(body, []byte("page.txt")) || bytes.Contains(body, []byte("index-")) {
			t.Errorf("GET %s = %d %q, want 404 without a listing", path, res.StatusCode, body)
		}
	}
}

// The app's pages may run only the app's own scripts and styles and reach only the API, the
// WebSocket and the upload endpoint; they are never framed.
func TestWebAppSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *gateway.Options) {
		o.WebDir = webDir(t)
		o.WebSources = gateway.WebSources{S3PublicEndpoint: "http://127.0.0.1:9000/", MediaPublicURL: "https://media.example.com/base"}
	})
	host := strings.TrimPrefix(e.url, "http://")
	for _, path := range []string{"/", "/chats/42", "/assets/index-B2xk9Qz1.js", "/nope"} {
		res, _ := do(t, browserGet(t, e.url+path))
		csp := res.Header.Get("Content-Security-Policy")
		directives := map[string]string{}
		for d := range strings.SplitSeq(csp, ";") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
			directives[name] = value
		}
		for name, want := range map[string]string{
			"default-src":     "'self'",
			"script-src":      "'self'",
			"style-src":       "'self'",
			"img-src":         "'self' blob: data: http://127.0.0.1:9000 https://media.example.com",
			"connect-src":     "'self' http://127.0.0.1:9000 https://media.example.com ws://" + host + " wss://" + host,
			"object-src":      "'none'",
			"base-uri":        "'none'",
			"frame-ancestors": "'none'",
		} {
			if directives[name] != want {
				t.Errorf("%s: %s %q, want %q (policy %q)", path, name, directives[name], want, csp)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%s: policy allows unsafe sources: %q", path, csp)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: X-Content-Type-Options %q, Referrer-Policy %q", path, res.Header.Get("X-Content-Type-Options"), res.Header.Get("Referrer-Policy"))
		}
	}
	// A Host that could end the directive is left out of the policy.
	req := browserGet(t, e.url+"/")
	req.Host = "evil.example;script-src"
	res, _ := do(t, req)
	if csp := res.Header.Get("Content-Security-Policy"); strings.Contains(csp, "evil") || !strings.Contains(csp, "connect-src 'self' http://127.0.0.1:9000 https://media.example.com;") {
		t.Errorf("policy for a bad Host: %q", csp)
	}
}

func TestWebAppRefusesBadSettings(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		dir  string
		src  gateway.WebSources
		want string
	}{
		"no index.html":   {dir: t.TempDir(), want: "WEB_DIR"},
		"no directory":    {dir: filepath.Join(t.TempDir(), "dist"), want: "WEB_DIR"},
		"S3 without http": {src: gateway.WebSources{S3PublicEndpoint: "s3.example.com"}, want: "S3_PUBLIC_ENDPOINT"},
		"media injection": {src: gateway.WebSources{MediaPublicURL: "https://a.example;script-src *"}, want: "MEDIA_PUBLIC_URL"},
	} {
		err := gateway.CheckWeb(tc.dir, tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: CheckWeb = %v, want an error naming %s", name, err, tc.want)
		}
		_, err = gateway.New(gateway.Options{Logger: newLogSinkLogger(), Verifier: nopVerifier{}, WebDir: tc.dir, WebSources: tc.src})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v, want an error naming %s", name, err, tc.want)
		}
	}
}

// Text the app is made of goes out gzipped to a client that takes it; a range is answered as it is.
func TestWebAppCompresses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *gateway.Options) { o.WebDir = webDir(t) })
	want := strings.Repeat("export const x = 1;\n", 500)
	req := mustGet(t, e.url+"/assets/vendor-Xy12Ab34.js")
	req.Header.Set("Accept-Encoding", "gzip")
	res, body := do(t, req)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Encoding") != "gzip" || len(body) >= len(want)/4 {
		t.Fatalf("GET asset with gzip = %d, Content-Encoding %q, %d bytes of %d", res.StatusCode, res.Header.Get("Content-Encoding"), len(body), len(want))
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := io.ReadAll(zr); err != nil || string(plain) != want {
		t.Fatalf("gunzipped asset: %d bytes, %v", len(plain), err)
	}
	if res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || !strings.Contains(strings.Join(res.Header.Values("Vary"), ","), "Accept-Encoding") {
		t.Errorf("compressed asset: Cache-Control %q, Vary %q", res.Header.Get("Cache-Control"), res.Header.Values("Vary"))
	}
	req = mustGet(t, e.url+"/assets/vendor-Xy12Ab34.js")
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("Range", "bytes=0-5")
	if res, body := do(t, req); res.StatusCode != http.StatusPartialContent || string(body) != "export" {
		t.Errorf("range = %d %q, want 206 \"export\"", res.StatusCode, body)
	}
}

// A file compressed already (an image, a font, an archive) goes out as it is: gzip would only
// cost time.
func TestWebAppLeavesCompressedFormatsAlone(t *testing.T) {
	t.Parallel()
	dir := webDir(t)
	// Compressible bytes, so only the extension keeps them from being gzipped.
	want := strings.Repeat("not really a picture\n", 200)
	for _, name := range []string{"assets/logo-Ab12Cd34.png", "assets/font-Ab12Cd34.woff2", "bundle.ZIP"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(want), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t, func(o *gateway.Options) { o.WebDir = dir })
	for _, name := range []string{"assets/logo-Ab12Cd34.png", "assets/font-Ab12Cd34.woff2", "bundle.ZIP"} {
		req := mustGet(t, e.url+"/"+name)
		req.Header.Set("Accept-Encoding", "gzip")
		res, body := do(t, req)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Encoding") != "" || string(body) != want {
			t.Errorf("GET %s with gzip = %d, Content-Encoding %q, %d bytes of %d", name, res.StatusCode, res.Header.Get("Content-Encoding"), len(body), len(want))
		}
	}
}

package realtime_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/parleyhq/parley/services/gateway/internal/realtime"
)

// TestThroughADevServerProxy: a dev server (Vite's proxy with changeOrigin: true, ws: true)
// forwards the WebSocket with the Host rewritten to the gateway's and the page's Origin kept. The
// hub lets it in when that origin is allowed (the dev stack allows Vite's) and refuses it
// otherwise, as it does without a proxy.
func TestThroughADevServerProxy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	g := e.startGateway(t)
	target, err := url.Parse(strings.Replace(g.url, "ws://", "http://", 1))
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(&url.URL{Scheme: target.Scheme, Host: target.Host}) // the Host becomes the gateway's
		if r.Out.Host != "" || r.Out.Header.Get("Origin") != testOrigin && r.Out.Header.Get("Origin") != "https://evil.example" {
			t.Errorf("proxy sends Host %q, Origin %q", r.Out.Host, r.Out.Header.Get("Origin"))
		}
	}})
	t.Cleanup(proxy.Close)
	viaProxy := "ws://" + strings.TrimPrefix(proxy.URL, "http://") + realtime.Path

	c, err := dial(t, viaProxy, dialOpts{token: e.iss.Token(t, newUUID())})
	if err != nil {
		t.Fatalf("the dev server's origin through its proxy: %v", err)
	}
	c.waitFor(t, "ready", isType(realtime.TypeReady))

	c, err = dial(t, viaProxy, dialOpts{token: e.iss.Token(t, newUUID()), origin: "https://evil.example"})
	if err == nil || c == nil || c.res.StatusCode != http.StatusForbidden {
		t.Fatalf("a foreign origin through the proxy: %v, want HTTP 403", err)
	}
}

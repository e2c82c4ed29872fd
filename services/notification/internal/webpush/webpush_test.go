package webpush_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/services/notification/internal/webpush"
	"github.com/parleyhq/parley/services/notification/internal/webpushtest"
)

// fakeResolver answers look-ups from a table (no DNS in tests); a name may answer differently
// from its second look-up on (DNS rebinding).
type fakeResolver struct {
	first, later map[string][]string
	asked        atomic.Int32
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	n := r.asked.Add(1)
	answers := r.first[host]
	if later, ok := r.later[host]; ok && n > 1 {
		answers = later
	}
	if len(answers) == 0 {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, a := range answers {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func newSender(t *testing.T, key *webpush.VAPIDKey, allowPrivate bool, tlsConfig *tls.Config, resolver webpush.Resolver) *webpush.Sender {
	t.Helper()
	s, err := webpush.NewSender(webpush.Options{Key: key, Subject: "mailto:ops@parley.test", Timeout: 5 * time.Second,
		AllowPrivateEndpoints: allowPrivate, TLS: tlsConfig, Resolver: resolver})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func message(sub *webpushtest.Subscription, payload string) webpush.Message {
	return webpush.Message{Endpoint: sub.Endpoint, P256dh: b64(sub.P256dh), Auth: b64(sub.Auth), Payload: []byte(payload),
		TTL: time.Hour, Urgency: "high", Topic: "0123456789abcdef0123456789abcdef"}
}

func b64(s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestAPushServiceVerifiesTheJWTAndDecryptsThePayload(t *testing.T) {
	key, err := webpush.GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	ps := webpushtest.Start(t, key.PublicKey())
	s := newSender(t, key, true, ps.TLS(), nil)
	sub := ps.Subscribe()
	payload := `{"kind":"NOTIFICATION_KIND_MESSAGE","title":"New message from alice","count":1}`
	if err := s.Send(context.Background(), message(sub, payload)); err != nil {
		t.Fatal(err)
	}
	got := ps.Pushes()
	if len(got) != 1 || string(got[0].Payload) != payload {
		t.Fatalf("pushes %+v; want one carrying %s", got, payload)
	}
	p := got[0]
	if p.TTL != "3600" || p.Urgency != "high" || p.Topic != "0123456789abcdef0123456789abcdef" {
		t.Errorf("headers TTL %q Urgency %q Topic %q", p.TTL, p.Urgency, p.Topic)
	}
	if p.Claims.Aud != ps.URL() || p.Claims.Sub != "mailto:ops@parley.test" || time.Until(time.Unix(p.Claims.Exp, 0)) > 24*time.Hour {
		t.Errorf("claims %+v", p.Claims)
	}
	// The largest payload a record carries goes; one byte more is refused before any request.
	if err := s.Send(context.Background(), message(sub, strings.Repeat("x", webpush.MaxPayload))); err != nil {
		t.Fatalf("a payload of MaxPayload bytes: %v", err)
	}
	if err := s.Send(context.Background(), message(sub, strings.Repeat("x", webpush.MaxPayload+1))); !errors.Is(err, webpush.ErrRejected) {
		t.Fatalf("a payload over MaxPayload: %v; want ErrRejected", err)
	}
	if n := len(ps.Pushes()); n != 2 {
		t.Fatalf("%d pushes reached the service; want 2", n)
	}
}

func TestSendClassifiesThePushServicesAnswers(t *testing.T) {
	key, _ := webpush.GenerateVAPIDKey()
	ps := webpushtest.Start(t, key.PublicKey())
	s := newSender(t, key, true, ps.TLS(), nil)
	for _, c := range []struct {
		answer webpushtest.Answer
		check  func(error) bool
	}{
		{webpushtest.Answer{Status: 201}, func(err error) bool { return err == nil }},
		{webpushtest.Answer{Status: 404}, func(err error) bool { return errors.Is(err, webpush.ErrGone) }},
		{webpushtest.Answer{Status: 410}, func(err error) bool { return errors.Is(err, webpush.ErrGone) }},
		{webpushtest.Answer{Status: 413}, func(err error) bool { return errors.Is(err, webpush.ErrRejected) }},
		{webpushtest.Answer{Status: 400}, func(err error) bool { return errors.Is(err, webpush.ErrRejected) }},
		{webpushtest.Answer{Status: 429, RetryAfter: "7"}, func(err error) bool {
			var ra *webpush.RetryAfterError
			return errors.As(err, &ra) && ra.After == 7*time.Second
		}},
		{webpushtest.Answer{Status: 429, RetryAfter: time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, func(err error) bool {
			var ra *webpush.RetryAfterError
			return errors.As(err, &ra) && ra.After > 59*time.Minute && ra.After <= time.Hour
		}},
		{webpushtest.Answer{Status: 503}, func(err error) bool {
			return err != nil && !errors.Is(err, webpush.ErrGone) && !errors.Is(err, webpush.ErrRejected)
		}},
	} {
		sub := ps.Subscribe()
		ps.Answer(sub, c.answer)
		if err := s.Send(context.Background(), message(sub, "x")); !c.check(err) {
			t.Errorf("answer %+v: Send = %v", c.answer, err)
		}
	}
}

func TestSendFollowsNoRedirect(t *testing.T) {
	var reached atomic.Int32
	target := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	defer target.Close()
	redirector := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/internal", http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	key, _ := webpush.GenerateVAPIDKey()
	ps := webpushtest.Start(t, key.PublicKey())
	sub := ps.Subscribe()
	m := message(sub, "x")
	m.Endpoint = redirector.URL + "/push/abc"
	s := newSender(t, key, true, &tls.Config{InsecureSkipVerify: true}, nil) // two test servers, each with a certificate of its own
	if err := s.Send(context.Background(), m); !errors.Is(err, webpush.ErrRejected) {
		t.Fatalf("Send to a redirect = %v; want ErrRejected", err)
	}
	if reached.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
}

func TestEndpointsOnNonPublicAddressesAreRefused(t *testing.T) {
	key, _ := webpush.GenerateVAPIDKey()
	resolver := &fakeResolver{first: map[string][]string{
		"push.example.test": {"203.0.113.7"},
		"private.test":      {"10.1.2.3"},
		"metadata.test":     {"169.254.169.254"},
		"mixed.test":        {"203.0.113.7", "192.168.1.1"},
		"mapped.test":       {"::ffff:127.0.0.1"},
		"cgnat.test":        {"100.64.0.1"},
		"unique-local.test": {"fd12:3456::1"},
	}}
	s := newSender(t, key, false, nil, resolver)
	ctx := context.Background()
	for _, endpoint := range []string{
		"https://127.0.0.1/push/x",
		"https://10.0.0.1/push/x",
		"https://10.255.0.9:8443/push/x",
		"https://169.254.169.254/latest/meta-data",
		"https://[::1]/push/x",
		"https://[::ffff:10.0.0.1]/push/x",
		"https://[fe80::1]/push/x",
		"https://private.test/push/x",
		"https://metadata.test/push/x",
		"https://mixed.test/push/x",
		"https://mapped.test/push/x",
		"https://cgnat.test/push/x",
		"https://unique-local.test/push/x",
		"https://nowhere.test/push/x",
		"http://push.example.test/push/x",
		"ftp://push.example.test/push/x",
		"https://user:pw@push.example.test/push/x",
		"https://push.example.test/push/x#frag",
		"https://push.example.test/" + strings.Repeat("x", webpush.MaxEndpointLen),
	} {
		if err := s.CheckEndpoint(ctx, endpoint); err == nil {
			t.Errorf("CheckEndpoint(%s) accepted it", endpoint)
		}
	}
	if err := s.CheckEndpoint(ctx, "https://push.example.test/push/x"); err != nil {
		t.Errorf("a public endpoint: %v", err)
	}
}

// A name that resolved to a public address at registration and to a private one when the push
// goes out (DNS rebinding) is refused as the connection is made, and nothing is requested.
func TestTheGuardChecksTheAddressAtConnectTime(t *testing.T) {
	key, _ := webpush.GenerateVAPIDKey()
	ps := webpushtest.Start(t, key.PublicKey())
	sub := ps.Subscribe()
	resolver := &fakeResolver{first: map[string][]string{"rebind.test": {"203.0.113.7"}},
		later: map[string][]string{"rebind.test": {"127.0.0.1"}}}
	s := newSender(t, key, false, ps.TLS(), resolver)
	endpoint := "https://rebind.test:" + strings.TrimPrefix(ps.URL(), "https://127.0.0.1:") + "/push/" + sub.ID
	if err := s.CheckEndpoint(context.Background(), endpoint); err != nil {
		t.Fatalf("at registration the name is public: %v", err)
	}
	m := message(sub, "x")
	m.Endpoint = endpoint
	err := s.Send(context.Background(), m)
	if !errors.Is(err, webpush.ErrRejected) || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("Send = %v; want ErrRejected naming 127.0.0.1", err)
	}
	// The test's own push service is on loopback: without the opt-in, it is refused too.
	if err := s.Send(context.Background(), message(sub, "x")); !errors.Is(err, webpush.ErrRejected) {
		t.Fatalf("Send to 127.0.0.1 without the opt-in = %v; want ErrRejected", err)
	}
	if n := len(ps.Pushes()); n != 0 {
		t.Fatalf("%d pushes reached the service", n)
	}
}

func TestVAPIDKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notification", "vapid-key")
	if _, _, err := webpush.LoadVAPIDKey(path, false); err == nil || !strings.Contains(err.Error(), "PUSH_GENERATE_VAPID_KEY") {
		t.Fatalf("a missing file without generate: %v", err)
	}
	k1, generated, err := webpush.LoadVAPIDKey(path, true)
	if err != nil || !generated {
		t.Fatalf("generate: %v, %v", generated, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	k2, generated, err := webpush.LoadVAPIDKey(path, true)
	if err != nil || generated || k2.PublicKey() != k1.PublicKey() {
		t.Fatalf("the second load made a new key (%v) or failed: %v", generated, err)
	}
	if pub := b64(k1.PublicKey()); len(pub) != 65 || pub[0] != 4 {
		t.Fatalf("public key %x is not an uncompressed P-256 point", pub)
	}
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := webpush.LoadVAPIDKey(path, true); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("a bad key file: %v", err)
	}
}

// Package webpushtest is a Web Push service for tests: an HTTPS server that checks every push the
// way a browser vendor's would — the VAPID JWT's ES256 signature against the application server
// key and its claims (aud, exp, sub) — and decrypts the aes128gcm payload with the subscription's
// private key, written here from RFC 8291 independently of the sender's code. It answers 201, or
// whatever a test queued for a subscription (404, 410, 429 with Retry-After, …).
package webpushtest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Subscription is a browser's subscription at the server, with the private half of its keys.
type Subscription struct {
	ID       string
	Endpoint string
	P256dh   string // base64url, as PushSubscription.toJSON() gives it
	Auth     string // base64url
	priv     *ecdh.PrivateKey
	secret   []byte
}

// Answer is what the server replies to one push: Status, and a Retry-After header when set.
type Answer struct {
	Status     int
	RetryAfter string
}

// Push is one push the server received and checked.
type Push struct {
	Subscription string // its ID
	Status       int    // what the server answered
	Payload      []byte // decrypted
	TTL          string
	Urgency      string
	Topic        string
	Claims       Claims
}

// Claims are a VAPID JWT's.
type Claims struct {
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Sub string `json:"sub"`
}

// Server is the push service.
type Server struct {
	t         *testing.T
	srv       *httptest.Server
	serverKey []byte // the application server's VAPID public key, uncompressed

	mu      sync.Mutex
	subs    map[string]*Subscription
	answers map[string][]Answer
	pushes  []Push
}

// Start starts a server that accepts pushes signed with the VAPID public key serverKey
// (base64url); it stops when the test ends.
func Start(t *testing.T, serverKey string) *Server {
	t.Helper()
	key, err := base64.RawURLEncoding.DecodeString(serverKey)
	if err != nil || len(key) != 65 {
		t.Fatalf("webpushtest: server key %q is not a base64url uncompressed P-256 key", serverKey)
	}
	s := &Server{t: t, serverKey: key, subs: map[string]*Subscription{}, answers: map[string][]Answer{}}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the server's base URL (https://127.0.0.1:port).
func (s *Server) URL() string { return s.srv.URL }

// TLS is a client configuration that trusts the server's certificate.
func (s *Server) TLS() *tls.Config {
	return s.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
}

// Subscribe makes a new subscription, as a browser's PushManager.subscribe() does.
func (s *Server) Subscribe() *Subscription {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		s.t.Fatal(err)
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	id := rand.Text()
	sub := &Subscription{ID: id, Endpoint: s.srv.URL + "/push/" + id, priv: priv, secret: secret,
		P256dh: base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
		Auth:   base64.RawURLEncoding.EncodeToString(secret)}
	s.mu.Lock()
	s.subs[id] = sub
	s.mu.Unlock()
	return sub
}

// Answer queues the answers to sub's next pushes, in order; after them it answers 201.
func (s *Server) Answer(sub *Subscription, answers ...Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[sub.ID] = append(s.answers[sub.ID], answers...)
}

// Pushes returns every push received so far, in order.
func (s *Server) Pushes() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Push(nil), s.pushes...)
}

// Delivered returns the payloads of sub's pushes the server accepted (answered 2xx), in order.
func (s *Server) Delivered(sub *Subscription) [][]byte {
	var out [][]byte
	for _, p := range s.Pushes() {
		if p.Subscription == sub.ID && p.Status/100 == 2 {
			out = append(out, p.Payload)
		}
	}
	return out
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/push/")
	s.mu.Lock()
	sub := s.subs[id]
	s.mu.Unlock()
	if r.Method != http.MethodPost || !ok || sub == nil {
		s.t.Errorf("webpushtest: %s %s: no such subscription", r.Method, r.URL.Path)
		http.Error(w, "no such subscription", http.StatusNotFound)
		return
	}
	claims, err := s.checkVAPID(r.Header.Get("Authorization"))
	if err != nil {
		s.t.Errorf("webpushtest: push to %s: VAPID: %v", id, err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "aes128gcm" {
		s.t.Errorf("webpushtest: push to %s: Content-Encoding %q, want aes128gcm", id, ce)
		http.Error(w, "bad encoding", http.StatusBadRequest)
		return
	}
	if r.Header.Get("TTL") == "" {
		s.t.Errorf("webpushtest: push to %s: no TTL header (RFC 8030 §5.2 requires one)", id)
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8192))
	payload, err := decrypt(body, sub.priv, sub.secret)
	if err != nil {
		s.t.Errorf("webpushtest: push to %s: cannot decrypt: %v", id, err)
		http.Error(w, "cannot decrypt", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	answer := Answer{Status: http.StatusCreated}
	if q := s.answers[id]; len(q) > 0 {
		answer, s.answers[id] = q[0], q[1:]
	}
	s.pushes = append(s.pushes, Push{Subscription: id, Status: answer.Status, Payload: payload, Claims: claims,
		TTL: r.Header.Get("TTL"), Urgency: r.Header.Get("Urgency"), Topic: r.Header.Get("Topic")})
	s.mu.Unlock()
	if answer.RetryAfter != "" {
		w.Header().Set("Retry-After", answer.RetryAfter)
	}
	w.WriteHeader(answer.Status)
}

// checkVAPID verifies "vapid t=<jwt>, k=<key>" (RFC 8292): k is the application server key, the
// JWT is ES256-signed by it, aud is this server's origin, exp is ahead but at most 24 h, sub is a
// mailto: or https: contact.
func (s *Server) checkVAPID(header string) (Claims, error) {
	var claims Claims
	rest, ok := strings.CutPrefix(header, "vapid ")
	if !ok {
		return claims, fmt.Errorf("authorization %q is not the vapid scheme", header)
	}
	params := map[string]string{}
	for _, p := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		params[k] = v
	}
	k, err := base64.RawURLEncoding.DecodeString(params["k"])
	if err != nil || !hmac.Equal(k, s.serverKey) {
		return claims, fmt.Errorf("k=%q is not the application server key", params["k"])
	}
	parts := strings.Split(params["t"], ".")
	if len(parts) != 3 {
		return claims, errors.New("t is not a JWT")
	}
	head, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var h struct{ Alg, Typ string }
	if err := json.Unmarshal(head, &h); err != nil || h.Alg != "ES256" {
		return claims, fmt.Errorf("JWT header %s: want alg ES256", head)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), k)
	if err != nil {
		return claims, fmt.Errorf("k is not a P-256 point: %w", err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return claims, errors.New("signature is not 64 bytes of base64url")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return claims, errors.New("the JWT's signature does not verify with k")
	}
	body, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(body, &claims); err != nil {
		return claims, fmt.Errorf("claims: %w", err)
	}
	now := time.Now()
	switch exp := time.Unix(claims.Exp, 0); {
	case claims.Aud != s.srv.URL:
		return claims, fmt.Errorf("aud %q, want the endpoint's origin %q", claims.Aud, s.srv.URL)
	case !exp.After(now):
		return claims, fmt.Errorf("exp %v has passed", exp)
	case exp.After(now.Add(24 * time.Hour)):
		return claims, fmt.Errorf("exp %v is more than 24 h ahead", exp)
	case !strings.HasPrefix(claims.Sub, "mailto:") && !strings.HasPrefix(claims.Sub, "https://"):
		return claims, fmt.Errorf("sub %q is not a mailto: or https: contact", claims.Sub)
	}
	return claims, nil
}

// decrypt opens an aes128gcm body (RFC 8188) encrypted for a subscription (RFC 8291).
func decrypt(body []byte, priv *ecdh.PrivateKey, authSecret []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("shorter than the header")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if idlen != 65 || len(body) < 21+idlen+16 {
		return nil, fmt.Errorf("key id of %d bytes; want the sender's 65-byte public key", idlen)
	}
	asPublic, ciphertext := body[21:21+idlen], body[21+idlen:]
	if uint32(len(ciphertext)) > rs {
		return nil, fmt.Errorf("%d bytes of ciphertext in a record of %d: want a single record", len(ciphertext), rs)
	}
	senderKey, err := ecdh.P256().NewPublicKey(asPublic)
	if err != nil {
		return nil, fmt.Errorf("key id: %w", err)
	}
	shared, err := priv.ECDH(senderKey)
	if err != nil {
		return nil, err
	}
	uaPublic := priv.PublicKey().Bytes()
	// RFC 8291 §3.4, spelled out with HMAC: PRK_key = HMAC(auth, ecdh); IKM = HMAC(PRK_key, info || 1).
	prkKey := mac(authSecret, shared)
	ikm := mac(prkKey, []byte("WebPush: info\x00"), uaPublic, asPublic, []byte{1})
	prk := mac(salt, ikm)
	cek := mac(prk, []byte("Content-Encoding: aes128gcm\x00"), []byte{1})[:16]
	nonce := mac(prk, []byte("Content-Encoding: nonce\x00"), []byte{1})[:12]
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	// Strip the padding: zeros after the delimiter, which is 2 in the last record.
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 || plain[i] != 2 {
		return nil, errors.New("no last-record delimiter")
	}
	return plain[:i], nil
}

func mac(key []byte, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

package webpush

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"time"
)

// MaxJWTLifetime is RFC 8292's bound on a VAPID JWT's exp: at most 24 hours ahead.
const MaxJWTLifetime = 24 * time.Hour

// authorization is the Authorization header of a push to endpoint (RFC 8292 §3): "vapid t=<JWT>,
// k=<public key>", the JWT signed ES256 with aud = the endpoint's origin, exp = now + lifetime
// (≤ 24 h) and sub = the operator's contact (a mailto: or https: URL).
func (k *VAPIDKey) authorization(endpoint, subject string, now time.Time, lifetime time.Duration) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", err
	}
	if lifetime <= 0 || lifetime > MaxJWTLifetime {
		lifetime = 12 * time.Hour
	}
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT","alg":"ES256"}`))
	claims, err := json.Marshal(struct {
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Sub string `json:"sub"`
	}{Aud: u.Scheme + "://" + u.Host, Exp: now.Add(lifetime).Unix(), Sub: subject})
	if err != nil {
		return "", err
	}
	signed := header + "." + base64.RawURLEncoding.EncodeToString(claims)
	digest := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign VAPID JWT: %w", err)
	}
	// JWS ES256 is r and s as two 32-byte big-endian numbers (RFC 7518 §3.4), not ASN.1.
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return "vapid t=" + signed + "." + base64.RawURLEncoding.EncodeToString(sig) + ", k=" + k.PublicKey(), nil
}

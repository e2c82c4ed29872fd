// Package webpush sends Web Push messages (RFC 8030) to the push services browsers subscribe
// with: the payload encrypted for the subscription (aes128gcm, RFC 8291), the request signed
// with the server's VAPID key (RFC 8292), through an HTTP client that connects only to public
// addresses (the endpoint is a URL a user gave us, and the server fetches it).
package webpush

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/parleyhq/parley/platform/keyfile"
)

// VAPIDKey is the application server's P-256 key pair: the private key signs every request's JWT,
// the public key is the applicationServerKey browsers subscribe with.
type VAPIDKey struct {
	priv *ecdsa.PrivateKey
	pub  []byte // uncompressed point, 65 bytes
}

// ParseVAPIDKey reads a private key in the form web-push tools print: the 32-byte P-256 scalar,
// base64url (padding and standard base64 accepted too).
func ParseVAPIDKey(text string) (*VAPIDKey, error) {
	raw, err := decodeBase64(strings.TrimSpace(text))
	if err != nil {
		return nil, errors.New("not base64url")
	}
	if len(raw) != 32 {
		return nil, fmt.Errorf("must be a 32-byte P-256 private key, got %d bytes", len(raw))
	}
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw)
	if err != nil {
		return nil, fmt.Errorf("not a P-256 private key: %w", err)
	}
	pub, err := priv.PublicKey.Bytes()
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return &VAPIDKey{priv: priv, pub: pub}, nil
}

// GenerateVAPIDKey makes a new key pair.
func GenerateVAPIDKey() (*VAPIDKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	pub, err := priv.PublicKey.Bytes()
	if err != nil {
		return nil, err
	}
	return &VAPIDKey{priv: priv, pub: pub}, nil
}

// PublicKey is the uncompressed public key, base64url without padding: the applicationServerKey.
func (k *VAPIDKey) PublicKey() string { return base64.RawURLEncoding.EncodeToString(k.pub) }

// PrivateKey is the private scalar, base64url without padding: what a key file holds.
func (k *VAPIDKey) PrivateKey() string {
	raw, _ := k.priv.Bytes() // a P-256 key always encodes
	return base64.RawURLEncoding.EncodeToString(raw)
}

// LoadVAPIDKey reads the key file at path (PUSH_VAPID_KEY_FILE). With generate, a missing file is
// created with a new key — development only: a key that changes with every fresh data directory
// invalidates every subscription made with the old one. generated reports that.
func LoadVAPIDKey(path string, generate bool) (key *VAPIDKey, generated bool, err error) {
	data, generated, err := keyfile.Load(path, generate, func() ([]byte, error) {
		k, err := GenerateVAPIDKey()
		if err != nil {
			return nil, err
		}
		return []byte(k.PrivateKey() + "\n"), nil
	}, "put a P-256 private key there, base64url (e.g. from `npx web-push generate-vapid-keys`), or set PUSH_GENERATE_VAPID_KEY=true to generate one (development only)")
	if err != nil {
		return nil, false, fmt.Errorf("VAPID key file: %w", err)
	}
	if key, err = ParseVAPIDKey(string(data)); err != nil {
		return nil, false, fmt.Errorf("VAPID key file %s: %w", path, err)
	}
	return key, generated, nil
}

// decodeBase64 accepts base64url or standard base64, padded or not, as browsers and tools write
// keys both ways.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

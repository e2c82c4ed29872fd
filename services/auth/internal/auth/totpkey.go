package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/parleyhq/parley/platform/keyfile"
)

// TOTPKeySize is the size of the key in AUTH_TOTP_KEY_FILE: 32 random bytes (AES-256).
const TOTPKeySize = 32

// TOTPKey protects two-factor secrets at rest. TOTP secrets must be readable to check codes, so
// they are encrypted (AES-256-GCM, the user id as additional data: a row copied to another account
// does not open); recovery codes only need to be recognised, so they are kept as an HMAC-SHA-256
// under a second key. Both keys are derived (HKDF-SHA-256) from the one in the key file, which
// lives with the service, never in the database.
type TOTPKey struct {
	id       string
	aead     cipher.AEAD
	recovery []byte
}

// NewTOTPKey derives the keys from 32 bytes of key material.
func NewTOTPKey(material []byte) (*TOTPKey, error) {
	if len(material) != TOTPKeySize {
		return nil, fmt.Errorf("the TOTP key must be %d bytes, got %d", TOTPKeySize, len(material))
	}
	enc, err := hkdf.Key(sha256.New, material, nil, "parley auth: totp secret encryption v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive totp key: %w", err)
	}
	mac, err := hkdf.Key(sha256.New, material, nil, "parley auth: recovery code hmac v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive recovery key: %w", err)
	}
	block, err := aes.NewCipher(enc)
	if err != nil {
		return nil, fmt.Errorf("totp key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("totp key: %w", err)
	}
	// The id names the key (not secret: a hash of a derived value) so that a later rotation can
	// tell which key sealed a row.
	idSum := sha256.Sum256(append([]byte("parley auth: totp key id v1"), material...))
	return &TOTPKey{id: hex.EncodeToString(idSum[:8]), aead: aead, recovery: mac}, nil
}

// ID names the key; stored next to each secret it seals.
func (k *TOTPKey) ID() string { return k.id }

// seal encrypts a user's secret: nonce || ciphertext.
func (k *TOTPKey) seal(userID string, secret []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize())
	_, _ = rand.Read(nonce) // never fails (crypto/rand)
	return k.aead.Seal(nonce, nonce, secret, []byte(userID))
}

// open decrypts what seal returned for the same user.
func (k *TOTPKey) open(userID string, sealed []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("open totp secret: too short")
	}
	secret, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(userID))
	if err != nil {
		return nil, fmt.Errorf("open totp secret (another AUTH_TOTP_KEY_FILE key?): %w", err)
	}
	return secret, nil
}

// recoveryHash is the stored form of a normalised recovery code of a user.
func (k *TOTPKey) recoveryHash(userID, code string) []byte {
	m := hmac.New(sha256.New, k.recovery)
	m.Write([]byte(userID))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return m.Sum(nil)
}

// LoadTOTPKey reads the key two-factor secrets are protected with from path: 32 bytes, base64
// (standard or URL alphabet, padding optional) on one line. When the file does not exist and
// generate is true, it creates one (keyfile.Load: mode 0600, atomically, so replicas starting
// together end up with one key); otherwise a missing file is an error saying what to do.
func LoadTOTPKey(path string, generate bool) (key *TOTPKey, generated bool, err error) {
	if path == "" {
		return nil, false, errors.New("AUTH_TOTP_KEY_FILE is empty: set it to the path of a file holding 32 random bytes in base64 (or set AUTH_GENERATE_TOTP_KEY=true to create one there)")
	}
	data, generated, err := keyfile.Load(path, generate, func() ([]byte, error) {
		material := make([]byte, TOTPKeySize)
		_, _ = rand.Read(material)
		return []byte(base64.StdEncoding.EncodeToString(material) + "\n"), nil
	}, "put 32 random bytes there in base64 (AUTH_TOTP_KEY_FILE; e.g. `head -c 32 /dev/urandom | base64`) or set AUTH_GENERATE_TOTP_KEY=true to generate one (development only)")
	if err != nil {
		return nil, false, fmt.Errorf("TOTP key file: %w", err)
	}
	text := strings.TrimRight(strings.TrimSpace(string(data)), "=")
	material, err := base64.RawStdEncoding.DecodeString(text)
	if err != nil {
		material, err = base64.RawURLEncoding.DecodeString(text)
	}
	if err != nil {
		return nil, false, fmt.Errorf("TOTP key file %s: not base64", path)
	}
	key, err = NewTOTPKey(material)
	if err != nil {
		return nil, false, fmt.Errorf("TOTP key file %s: %w", path, err)
	}
	return key, generated, nil
}

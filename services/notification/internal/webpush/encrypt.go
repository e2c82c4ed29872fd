package webpush

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// Sizes of RFC 8291's inputs and of one aes128gcm record.
const (
	PublicKeySize  = 65 // an uncompressed P-256 point (p256dh)
	AuthSecretSize = 16 // auth
	recordSize     = 4096
	saltSize       = 16
	headerSize     = saltSize + 4 + 1 + PublicKeySize
	tagSize        = 16
	// MaxPayload is the largest plaintext one record carries: the record size less the header,
	// the GCM tag and the padding delimiter. Push services need not accept more (RFC 8030 §7.2).
	MaxPayload = recordSize - headerSize - tagSize - 1
)

// Encrypt encrypts plaintext for a subscription (RFC 8291): an ephemeral P-256 key agrees a
// secret with the browser's key (p256dh), HKDF mixes in the subscription's auth secret and a random
// salt, and the result is one aes128gcm record (RFC 8188) whose header carries the salt and the
// ephemeral public key.
func Encrypt(plaintext, p256dh, authSecret []byte) ([]byte, error) {
	if len(plaintext) > MaxPayload {
		return nil, fmt.Errorf("payload of %d bytes is over the %d a push message carries", len(plaintext), MaxPayload)
	}
	if len(authSecret) != AuthSecretSize {
		return nil, fmt.Errorf("auth secret must be %d bytes, got %d", AuthSecretSize, len(authSecret))
	}
	uaPublic, err := ecdh.P256().NewPublicKey(p256dh)
	if err != nil {
		return nil, fmt.Errorf("p256dh: %w", err)
	}
	asPrivate, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	asPublic := asPrivate.PublicKey().Bytes()
	shared, err := asPrivate.ECDH(uaPublic)
	if err != nil {
		return nil, fmt.Errorf("key agreement: %w", err)
	}
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	gcm, nonce, err := contentCipher(shared, authSecret, p256dh, asPublic, salt)
	if err != nil {
		return nil, err
	}
	out := make([]byte, headerSize, headerSize+len(plaintext)+1+tagSize)
	copy(out, salt)
	binary.BigEndian.PutUint32(out[saltSize:], recordSize)
	out[saltSize+4] = PublicKeySize
	copy(out[saltSize+5:], asPublic)
	// The single (so last) record: the plaintext, then the delimiter 0x02, no further padding.
	record := append(append(make([]byte, 0, len(plaintext)+1), plaintext...), 0x02)
	return gcm.Seal(out, nonce, record, nil), nil
}

// contentCipher derives the content-encryption key and nonce (RFC 8291 §3.3, §3.4) and returns
// the key as the AES-GCM cipher that seals the record: first the input keying material from the
// ECDH secret, keyed by the auth secret and bound to both public keys; then, salted, the
// aes128gcm key and nonce (RFC 8188 §2.2, §2.3).
func contentCipher(shared, authSecret, uaPublic, asPublic, salt []byte) (gcm cipher.AEAD, nonce []byte, err error) {
	keyInfo := append(append([]byte("WebPush: info\x00"), uaPublic...), asPublic...)
	ikm, err := hkdf.Key(sha256.New, shared, authSecret, string(keyInfo), 32)
	if err != nil {
		return nil, nil, err
	}
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, nil, err
	}
	cek, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, nil, err
	}
	if nonce, err = hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12); err != nil {
		return nil, nil, err
	}
	block, err := aes.NewCipher(cek) // 16 bytes: AES-128
	if err != nil {
		return nil, nil, err
	}
	if gcm, err = cipher.NewGCM(block); err != nil {
		return nil, nil, err
	}
	return gcm, nonce, nil
}

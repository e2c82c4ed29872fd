package oidcdev

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"

	"github.com/parleyhq/parley/platform/keyfile"
)

// keyBits is the size of a generated signing key.
const keyBits = 2048

// loadOrCreateKey reads the RSA signing key from path (PEM, PKCS #8), or generates one and writes
// it there (platform/keyfile: mode 0600, directory 0700, never a partial file) when the file does
// not exist. path "" gives a key that lives only as long as the process. A file that exists but
// holds no usable key is an error, never overwritten.
func loadOrCreateKey(path string) (key *rsa.PrivateKey, created bool, err error) {
	if path == "" {
		key, err = rsa.GenerateKey(rand.Reader, keyBits)
		return key, true, err
	}
	data, created, err := keyfile.Load(path, true, newKeyPEM, "the dev OIDC provider creates it on start")
	if err != nil {
		return nil, false, fmt.Errorf("signing key: %w", err)
	}
	if key, err = parseKey(data); err != nil {
		return nil, false, fmt.Errorf("signing key %s: %w (delete the file to have a new key made)", path, err)
	}
	return key, created, nil
}

// newKeyPEM generates a signing key as PEM (PKCS #8).
func newKeyPEM() ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM \"PRIVATE KEY\" block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an RSA key", k)
	}
	if rk.N.BitLen() < keyBits {
		return nil, fmt.Errorf("RSA key of %d bits; want at least %d", rk.N.BitLen(), keyBits)
	}
	return rk, nil
}

// publicJWK is the public half of an RSA signing key as a JSON Web Key (RFC 7517/7518).
type publicJWK struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

func newPublicJWK(pub *rsa.PublicKey) publicJWK {
	n := b64(pub.N.Bytes())
	e := b64(big.NewInt(int64(pub.E)).Bytes())
	// The key id is the RFC 7638 thumbprint: SHA-256 of the required members in lexical order,
	// so it follows the key and stays the same across restarts.
	canonical, _ := json.Marshal(struct {
		E   string `json:"e"`
		Kty string `json:"kty"`
		N   string `json:"n"`
	}{e, "RSA", n})
	sum := sha256.Sum256(canonical)
	return publicJWK{Kty: "RSA", Use: "sig", Alg: "RS256", Kid: b64(sum[:]), N: n, E: e}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

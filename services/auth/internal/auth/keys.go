package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/parleyhq/parley/platform/keyfile"
)

// LoadSigningKey reads the private JWK the access tokens are signed with from path. When the file
// does not exist and generate is true, it creates an Ed25519 key, writes it with mode 0600 and
// returns it; when generate is false a missing file is an error saying what to do.
// The key gets a "kid" (its RFC 7638 thumbprint) and "alg" when the file has none.
func LoadSigningKey(path string, generate bool) (key jwk.Key, generated bool, err error) {
	if path == "" {
		return nil, false, errors.New("AUTH_SIGNING_KEY_FILE is empty: set it to the path of a private JWK (or set AUTH_GENERATE_SIGNING_KEY=true to create one there)")
	}
	data, generated, err := keyfile.Load(path, generate, newSigningKey,
		"provide a private JWK there (AUTH_SIGNING_KEY_FILE) or set AUTH_GENERATE_SIGNING_KEY=true to generate one (development only)")
	if err != nil {
		return nil, false, fmt.Errorf("signing key file: %w", err)
	}
	key, err = jwk.ParseKey(data)
	if err != nil {
		return nil, false, fmt.Errorf("parse signing key %s: %w", path, err)
	}
	if err := prepareKey(key, true); err != nil {
		return nil, false, fmt.Errorf("signing key %s: %w", path, err)
	}
	return key, generated, nil
}

// newSigningKey makes a new Ed25519 private JWK, encoded as a key file holds it.
func newSigningKey() ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	key, err := jwk.FromRaw(priv)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	if err := prepareKey(key, true); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(key, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode signing key: %w", err)
	}
	return append(data, '\n'), nil
}

// LoadPublicKeys reads a JWKS of public keys that tokens may still be signed with (the keys of
// previous signing keys during a rotation). An empty path means none.
func LoadPublicKeys(path string) (jwk.Set, error) {
	set := jwk.NewSet()
	if path == "" {
		return set, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read previous public keys: %w", err)
	}
	parsed, err := jwk.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("parse previous public keys %s: %w", path, err)
	}
	for i := range parsed.Len() {
		k, _ := parsed.Key(i)
		pub, err := k.PublicKey() // a private key in the file is published as its public half only
		if err != nil {
			return nil, fmt.Errorf("previous public keys %s, key %d: %w", path, i, err)
		}
		if err := prepareKey(pub, false); err != nil {
			return nil, fmt.Errorf("previous public keys %s, key %d: %w", path, i, err)
		}
		if err := set.AddKey(pub); err != nil {
			return nil, fmt.Errorf("previous public keys %s, key %d: %w", path, i, err)
		}
	}
	return set, nil
}

// prepareKey checks the key is one Parley signs with (Ed25519, ECDSA P-256 or RSA of at least 2048
// bits, private when private is true) and sets "kid", "alg" and "use" when missing.
func prepareKey(key jwk.Key, private bool) error {
	var raw any
	if err := key.Raw(&raw); err != nil {
		return fmt.Errorf("unusable key: %w", err)
	}
	var allowed []jwa.SignatureAlgorithm // the first is the default
	isPrivate := false
	switch k := raw.(type) {
	case ed25519.PrivateKey:
		allowed, isPrivate = []jwa.SignatureAlgorithm{jwa.EdDSA}, true
	case ed25519.PublicKey:
		allowed = []jwa.SignatureAlgorithm{jwa.EdDSA}
	case *ecdsa.PrivateKey, *ecdsa.PublicKey:
		pub, ok := k.(*ecdsa.PublicKey)
		if !ok {
			pub, isPrivate = &k.(*ecdsa.PrivateKey).PublicKey, true
		}
		if pub.Curve != elliptic.P256() {
			return errors.New("only the P-256 curve is supported for ECDSA keys")
		}
		allowed = []jwa.SignatureAlgorithm{jwa.ES256}
	case *rsa.PrivateKey, *rsa.PublicKey:
		pub, ok := k.(*rsa.PublicKey)
		if !ok {
			pub, isPrivate = &k.(*rsa.PrivateKey).PublicKey, true
		}
		if pub.N.BitLen() < 2048 {
			return errors.New("RSA keys must have at least 2048 bits")
		}
		allowed = []jwa.SignatureAlgorithm{jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512}
	default:
		return fmt.Errorf("unsupported key type %T: use Ed25519 (OKP), EC P-256 or RSA", raw)
	}
	if private && !isPrivate {
		return errors.New("the signing key must be a private key")
	}
	if got := key.Algorithm().String(); got == "" {
		if err := key.Set(jwk.AlgorithmKey, allowed[0]); err != nil {
			return err
		}
	} else if !slices.ContainsFunc(allowed, func(a jwa.SignatureAlgorithm) bool { return a.String() == got }) {
		return fmt.Errorf("key declares alg %q, which does not fit its type (use %s)", got, allowed[0])
	}
	if key.KeyID() == "" {
		tp, err := key.Thumbprint(crypto.SHA256)
		if err != nil {
			return fmt.Errorf("key thumbprint: %w", err)
		}
		if err := key.Set(jwk.KeyIDKey, base64.RawURLEncoding.EncodeToString(tp)); err != nil {
			return err
		}
	}
	if key.KeyUsage() == "" {
		if err := key.Set(jwk.KeyUsageKey, jwk.ForSignature); err != nil {
			return err
		}
	}
	return nil
}

package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Tokens is a signed-in session's credentials.
type Tokens struct {
	AccessToken           string
	AccessTokenExpiresAt  time.Time
	RefreshToken          string
	RefreshTokenExpiresAt time.Time
}

// AccessTokens signs access tokens (JWTs) and knows the public keys that verify them.
type AccessTokens struct {
	key      jwk.Key
	alg      jwa.SignatureAlgorithm
	public   jwk.Set
	issuer   string
	audience string
	ttl      time.Duration
}

// NewAccessTokens returns a signer over the private key signing (see LoadSigningKey). The published
// key set is signing's public key followed by previous (keys of earlier signing keys whose tokens
// may still be in use).
func NewAccessTokens(signing jwk.Key, previous jwk.Set, issuer, audience string, ttl time.Duration) (*AccessTokens, error) {
	if issuer == "" || audience == "" {
		return nil, errors.New("access tokens need an issuer and an audience")
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("access token lifetime must be positive, got %s", ttl)
	}
	if err := prepareKey(signing, true); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	var alg jwa.SignatureAlgorithm
	if err := alg.Accept(signing.Algorithm().String()); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	pub, err := signing.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		return nil, fmt.Errorf("public key set: %w", err)
	}
	if previous != nil {
		for i := range previous.Len() {
			k, _ := previous.Key(i)
			if k.KeyID() == signing.KeyID() {
				continue // the current key listed as previous too: publish it once
			}
			if _, dup := set.LookupKeyID(k.KeyID()); dup {
				return nil, fmt.Errorf("previous public keys: key id %q appears twice", k.KeyID())
			}
			if err := set.AddKey(k); err != nil {
				return nil, fmt.Errorf("public key set: %w", err)
			}
		}
	}
	return &AccessTokens{key: signing, alg: alg, public: set, issuer: issuer, audience: audience, ttl: ttl}, nil
}

// PublicKeys is the JWKS to publish: public keys only, each with "kid" and "alg".
func (a *AccessTokens) PublicKeys() jwk.Set { return a.public }

// KeyID is the id of the current signing key.
func (a *AccessTokens) KeyID() string { return a.key.KeyID() }

// Issue signs an access token for the user's session, valid from now for the configured lifetime.
// Claims: iss, aud, sub (user id), sid (session id), email_verified, iat, nbf, exp, jti.
func (a *AccessTokens) Issue(userID, sessionID string, emailVerified bool, now time.Time) (string, time.Time, error) {
	now = now.Truncate(time.Second)
	exp := now.Add(a.ttl)
	tok, err := jwt.NewBuilder().
		Issuer(a.issuer).
		Audience([]string{a.audience}).
		Subject(userID).
		IssuedAt(now).
		NotBefore(now).
		Expiration(exp).
		JwtID(uuid.NewString()).
		Claim("sid", sessionID).
		Claim("email_verified", emailVerified).
		Build()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("build access token: %w", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(a.alg, a.key))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign access token: %w", err)
	}
	return string(signed), exp, nil
}

// refreshTokenBytes is the entropy of a refresh token.
const refreshTokenBytes = 32

// NewRefreshToken returns a new opaque refresh token (32 random bytes, base64url without padding)
// and the SHA-256 hash that is all the database keeps of it.
func NewRefreshToken() (token string, hash []byte) {
	var b [refreshTokenBytes]byte
	_, _ = rand.Read(b[:])
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashRefreshToken(token)
}

// HashRefreshToken is the lookup key of a refresh token. A plain SHA-256 is enough: the token has
// 256 bits of entropy, so there is nothing to brute-force.
func HashRefreshToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// wellFormedRefreshToken tells whether token could have been made by NewRefreshToken, so garbage
// is rejected without a database round trip.
func wellFormedRefreshToken(token string) bool {
	b, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil && len(b) == refreshTokenBytes
}

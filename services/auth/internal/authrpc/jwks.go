package authrpc

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// JWKSPath is where the public keys are served.
const JWKSPath = "/.well-known/jwks.json"

// JWKSHandler serves the public key set (public keys only, each with "kid" and "alg") as a JWKS
// document, cacheable for maxAge. During a key rotation the previous keys stay in the set for
// longer than maxAge plus the access-token lifetime, so a verifier's cache is never missing a key
// a live token needs (verifiers also refetch on an unknown kid).
func JWKSHandler(keys jwk.Set, maxAge time.Duration) (http.Handler, error) {
	public, err := jwk.PublicSetOf(keys) // never publish private material, whatever we were given
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	body, err := json.Marshal(public)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	sum := sha256.Sum256(body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	cacheControl := fmt.Sprintf("public, max-age=%d", int(maxAge.Seconds()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", cacheControl)
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write(body)
	}), nil
}

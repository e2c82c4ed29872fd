package authn

import (
	"crypto/sha256"
	"crypto/subtle"
)

// SecretEqual reports whether presented is the shared secret want (INTERNAL_API_TOKEN and the
// like), in time that depends on neither value nor on their lengths: both sides are hashed with
// SHA-256 first and the fixed-size digests compared with subtle.ConstantTimeCompare. Comparing
// the raw strings would return early on a length mismatch and so tell a prober how long the
// secret is. An empty want matches nothing: an unset secret must never authorise a caller who
// sends an empty header.
func SecretEqual(presented, want string) bool {
	p := sha256.Sum256([]byte(presented))
	w := sha256.Sum256([]byte(want))
	match := subtle.ConstantTimeCompare(p[:], w[:]) == 1
	return match && want != ""
}

// SecretIn reports whether presented is one of the accepted secrets (SecretEqual each): the
// current INTERNAL_API_TOKEN and, while it is being rotated, INTERNAL_API_TOKEN_ACCEPTED's. Every
// one is compared, so the time says nothing about which matched; empty ones match nothing.
func SecretIn(presented string, accepted []string) bool {
	match := false
	for _, a := range accepted {
		if SecretEqual(presented, a) {
			match = true
		}
	}
	return match
}

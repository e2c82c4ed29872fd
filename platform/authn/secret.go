package authn

import (
	"crypto/sha256"
	"crypto/subtle"
	"slices"
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

// InternalTokens are the secrets a service takes internal calls with (InternalTokenHeader): the
// current INTERNAL_API_TOKEN and, while it is being rotated, INTERNAL_API_TOKEN_ACCEPTED's
// (config.InternalAPIAccepted.AcceptedInternalTokens). An empty one matches nothing.
type InternalTokens []string

// Off reports whether no token is set: every internal call is refused.
func (t InternalTokens) Off() bool {
	return !slices.ContainsFunc(t, func(s string) bool { return s != "" })
}

// Accept reports whether presented is one of the tokens (SecretEqual each). Every one is
// compared, so the time says nothing about which matched.
func (t InternalTokens) Accept(presented string) bool {
	match := false
	for _, want := range t {
		if SecretEqual(presented, want) {
			match = true
		}
	}
	return match
}

package authn

import "testing"

func TestSecretEqual(t *testing.T) {
	for _, tc := range []struct {
		name            string
		presented, want string
		ok              bool
	}{
		{"equal", "s3cret-internal-token", "s3cret-internal-token", true},
		{"different, same length", "s3cret-internal-tokex", "s3cret-internal-token", false},
		{"prefix of the secret", "s3cret", "s3cret-internal-token", false},
		{"longer than the secret", "s3cret-internal-token-and-more", "s3cret-internal-token", false},
		{"empty presented", "", "s3cret-internal-token", false},
		{"empty secret refuses an empty header", "", "", false},
		{"empty secret refuses anything", "x", "", false},
		{"case matters", "S3CRET-INTERNAL-TOKEN", "s3cret-internal-token", false},
	} {
		if got := SecretEqual(tc.presented, tc.want); got != tc.ok {
			t.Errorf("%s: SecretEqual(%q, %q) = %v, want %v", tc.name, tc.presented, tc.want, got, tc.ok)
		}
	}
}

func TestInternalTokens(t *testing.T) {
	rotation := InternalTokens{"the-new-token", "the-old-token"}
	for _, tc := range []struct {
		presented string
		accepted  InternalTokens
		ok        bool
	}{
		{"the-new-token", rotation, true},
		{"the-old-token", rotation, true},
		{"the-other-token", rotation, false},
		{"", rotation, false},
		{"", []string{"", ""}, false},
		{"x", nil, false},
	} {
		if got := tc.accepted.Accept(tc.presented); got != tc.ok {
			t.Errorf("%q.Accept(%q) = %v, want %v", tc.accepted, tc.presented, got, tc.ok)
		}
	}
	for _, tc := range []struct {
		tokens InternalTokens
		off    bool
	}{{nil, true}, {InternalTokens{""}, true}, {InternalTokens{"", "x"}, false}, {rotation, false}} {
		if got := tc.tokens.Off(); got != tc.off {
			t.Errorf("%q.Off() = %v, want %v", tc.tokens, got, tc.off)
		}
	}
}

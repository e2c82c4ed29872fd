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

func TestSecretIn(t *testing.T) {
	rotation := []string{"the-new-token", "the-old-token"}
	for _, tc := range []struct {
		presented string
		accepted  []string
		ok        bool
	}{
		{"the-new-token", rotation, true},
		{"the-old-token", rotation, true},
		{"the-other-token", rotation, false},
		{"", rotation, false},
		{"", []string{"", ""}, false},
		{"x", nil, false},
	} {
		if got := SecretIn(tc.presented, tc.accepted); got != tc.ok {
			t.Errorf("SecretIn(%q, %q) = %v, want %v", tc.presented, tc.accepted, got, tc.ok)
		}
	}
}

package config_test

import (
	"slices"
	"testing"

	"github.com/parleyhq/parley/platform/config"
)

func TestAcceptedInternalTokens(t *testing.T) {
	for _, tc := range []struct {
		token, accepted string
		want            []string
	}{
		{"new", "", []string{"new"}},
		{"new", "old", []string{"new", "old"}},
		{"new", " old , older ,,", []string{"new", "old", "older"}},
		{"", "old", nil}, // internal calls are off without INTERNAL_API_TOKEN
	} {
		got := config.InternalAPIAccepted{InternalAPITokenAccepted: tc.accepted}.AcceptedInternalTokens(tc.token)
		if !slices.Equal(got, tc.want) {
			t.Errorf("INTERNAL_API_TOKEN=%q INTERNAL_API_TOKEN_ACCEPTED=%q: %q, want %q", tc.token, tc.accepted, got, tc.want)
		}
	}
}

package gateway

import (
	"regexp"
	"testing"
)

// isVersion is written out for speed; it must accept exactly what its original pattern accepts.
func TestIsVersionMatchesThePattern(t *testing.T) {
	ref := regexp.MustCompile(`^v[0-9]+(?:(?:alpha|beta)[0-9]*)?$`)
	for _, s := range []string{"v1", "v12", "v1alpha", "v1alpha1", "v2beta", "v2beta10", "", "v", "1", "valpha", "v1gamma",
		"v1alpha1x", "V1", "v1.2", "v1beta1beta", "v01", "vv1", "v1 ", "v1alphabeta"} {
		if got, want := isVersion(s), ref.MatchString(s); got != want {
			t.Errorf("isVersion(%q) = %v, the pattern says %v", s, got, want)
		}
	}
}

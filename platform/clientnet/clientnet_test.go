package clientnet_test

import (
	"testing"

	"github.com/parleyhq/parley/platform/clientnet"
)

func TestKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":                    "203.0.113.7",
		"::ffff:203.0.113.7":             "203.0.113.7",
		"2001:db8:1:2:3:4:5:6":           "2001:db8:1:2::/64",
		"[2001:db8:1:2::9]":              "2001:db8:1:2::/64",
		"fe80::1%eth0":                   "fe80::/64",
		"2001:db8:1:3:ffff:ffff:ffff:ff": "2001:db8:1:3::/64",
	} {
		if got, ok := clientnet.Key(in); !ok || got != want {
			t.Errorf("Key(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "unknown", "203.0.113.7:443", "2001:db8::/64"} {
		if got, ok := clientnet.Key(in); ok {
			t.Errorf("Key(%q) = %q, want not an address", in, got)
		}
	}
}

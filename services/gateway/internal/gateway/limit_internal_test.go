package gateway

import "testing"

func TestClientNetwork(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":                     "203.0.113.7",
		"::ffff:203.0.113.7":              "203.0.113.7",
		"2001:db8:1:2:3:4:5:6":            "2001:db8:1:2::/64",
		"2001:db8:1:2::1":                 "2001:db8:1:2::/64",
		"[2001:db8:1:2::1]":               "2001:db8:1:2::/64",
		"2001:DB8:1:2:ffff:ffff:ffff:fff": "2001:db8:1:2::/64",
		"::1":                             "::/64",
		"not an address":                  "not an address",
	} {
		if got := clientNetwork(in); got != want {
			t.Errorf("clientNetwork(%q) = %q, want %q", in, got, want)
		}
	}
}

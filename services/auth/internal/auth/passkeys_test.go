package auth

import (
	"strings"
	"testing"
)

func TestPasskeyConfig(t *testing.T) {
	pk, err := newPasskeys(PasskeyConfig{Origins: []string{"https://parley.example:8443", "https://app.parley.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if pk.wa.Config.RPID != "parley.example" || pk.wa.Config.RPDisplayName != "Parley" || pk.ttl.Minutes() != 5 {
		t.Fatalf("defaults: %+v, ttl %v", pk.wa.Config, pk.ttl)
	}
	if pk, err := newPasskeys(PasskeyConfig{}); pk != nil || err != nil {
		t.Fatalf("no origins: %v, %v; want passkeys off", pk, err)
	}
	for _, bad := range []PasskeyConfig{
		{Origins: []string{"parley.example"}},
		{Origins: []string{"https://parley.example/app"}},
		{Origins: []string{"ftp://parley.example"}},
		{RPID: "https://parley.example", Origins: []string{"https://parley.example"}},
	} {
		if _, err := newPasskeys(bad); err == nil || !strings.Contains(err.Error(), "passkeys") {
			t.Errorf("%+v: error %v", bad, err)
		}
	}
}

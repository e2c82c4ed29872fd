package authntest_test

import (
	"errors"
	"testing"
	"time"

	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/authntest"
)

func TestTokensVerifyAsTheServicesVerifyThem(t *testing.T) {
	iss := authntest.New(t)
	for name, v := range map[string]*authn.Verifier{"static keys": iss.Verifier(), "through the JWKS URL": iss.RemoteVerifier(t)} {
		t.Run(name, func(t *testing.T) {
			p, err := v.Verify(t.Context(), iss.Token(t, "user-1"))
			if err != nil || p.UserID != "user-1" || p.SessionID != "session-user-1" {
				t.Fatalf("default token = %+v, %v; want user-1 with session session-user-1", p, err)
			}
			if time.Until(p.Expiry) > authntest.DefaultTTL || time.Until(p.Expiry) < authntest.DefaultTTL-time.Minute {
				t.Fatalf("expiry %v; want about %v from now", p.Expiry, authntest.DefaultTTL)
			}
			p, err = v.Verify(t.Context(), iss.Token(t, "user-2", authntest.Session("s-9"), authntest.TTL(time.Hour)))
			if err != nil || p.SessionID != "s-9" || time.Until(p.Expiry) < 59*time.Minute {
				t.Fatalf("token with session and ttl = %+v, %v", p, err)
			}
		})
	}
}

func TestTokensAreRefusedWhenTheyShouldBe(t *testing.T) {
	iss := authntest.New(t)
	v := iss.Verifier()
	for name, raw := range map[string]string{
		"expired":        iss.Token(t, "u", authntest.TTL(-2*time.Minute)),
		"other issuer":   iss.Token(t, "u", authntest.Claim("iss", "someone-else")),
		"another key":    authntest.New(t).Token(t, "u"),
		"other audience": iss.Token(t, "u", authntest.Claim("aud", []string{"other"})),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := v.Verify(t.Context(), raw); !errors.Is(err, authn.ErrInvalidToken) {
				t.Fatalf("Verify = %v; want ErrInvalidToken", err)
			}
		})
	}
}

func TestRemoteVerifierWithTheAuthServiceDown(t *testing.T) {
	iss := authntest.New(t)
	v := authntest.RemoteVerifier(t, "http://127.0.0.1:1/.well-known/jwks.json")
	if _, err := v.Verify(t.Context(), iss.Token(t, "u")); err == nil {
		t.Fatal("a token verified with no JWKS to fetch")
	}
}

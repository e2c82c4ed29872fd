package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/parleyhq/parley/platform/config"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

func TestOAuthProviderConfigFromEnv(t *testing.T) {
	t.Setenv("AUTH_OAUTH_PROVIDERS", "dev, my-idp")
	t.Setenv("AUTH_OAUTH_DEV_ISSUER", "http://127.0.0.1:9999")
	t.Setenv("AUTH_OAUTH_DEV_CLIENT_ID", "parley")
	t.Setenv("AUTH_OAUTH_DEV_REDIRECT_URIS", "http://localhost:8080/cb, http://127.0.0.1:8080/cb")
	t.Setenv("AUTH_OAUTH_MY_IDP_ISSUER", "https://idp.example")
	t.Setenv("AUTH_OAUTH_MY_IDP_CLIENT_SECRET", "hunter2")
	cfg, err := config.Load[Config]()
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.oauthConfigs()
	if err == nil || !strings.Contains(err.Error(), "AUTH_OAUTH_MY_IDP_CLIENT_ID") || !strings.Contains(err.Error(), "AUTH_OAUTH_MY_IDP_REDIRECT_URIS") {
		t.Fatalf("incomplete provider: %v; want the missing variables named", err)
	}
	t.Setenv("AUTH_OAUTH_PROVIDERS", "dev")
	cfg, _ = config.Load[Config]()
	pcs, err := cfg.oauthConfigs()
	if err != nil || len(pcs) != 1 || pcs[0].ID != "dev" || pcs[0].ClientID != "parley" || len(pcs[0].RedirectURIs) != 2 {
		t.Fatalf("oauthConfigs = %+v, %v", pcs, err)
	}
}

func TestConfigDefaultsAndMasking(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://auth:topsecret@db:5432/parley_auth")
	cfg, err := config.Start(slog.New(slog.DiscardHandler), defaults, nil) // as run loads it
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ListenAddr != ":8081" || cfg.JWTIssuer != "parley" || cfg.AccessTokenTTL.String() != "15m0s" || cfg.RefreshTokenTTL.Hours() != 720 ||
		cfg.argon2Params() != auth.DefaultArgon2Params || cfg.throttlePolicy() != auth.DefaultThrottlePolicy || len(cfg.TrustedProxies) != 0 {
		t.Fatalf("defaults %+v", cfg)
	}
	for _, a := range config.Attrs(cfg) {
		if strings.Contains(a.(interface{ String() string }).String(), "topsecret") {
			t.Fatalf("configuration log leaks the database password: %v", a)
		}
	}
}

package stack

import (
	"log/slog"
	"path/filepath"

	"github.com/parleyhq/parley/devstack/oidcdev"
)

// The dev OpenID Connect provider's one client: the auth service. Fixed values, so `devstack env`
// and `exec` agree with `up`; the registry hands them to auth as ${DEV_OIDC_CLIENT_ID} and
// ${DEV_OIDC_CLIENT_SECRET}. For development only, like the provider itself.
const (
	DevOIDCClientID     = "parley-dev"
	DevOIDCClientSecret = "parley-dev-oidc-secret"
)

// startOIDC runs the development OpenID Connect provider (package oidcdev) in this process on
// 127.0.0.1, with its signing key kept in <data>/oidc so restarts keep it. Its client accepts any
// loopback redirect URI: auth's own list (AUTH_OAUTH_DEV_REDIRECT_URIS, from the registry) is the
// one that decides.
func (s *Stack) startOIDC() error {
	logger := slog.New(slog.NewTextHandler(s.console.Writer("oidc"), &slog.HandlerOptions{ReplaceAttr: dropTime}))
	p, err := oidcdev.New(oidcdev.Config{
		Issuer:  s.ep.DevOIDCURL,
		Clients: []oidcdev.Client{{ID: DevOIDCClientID, Secret: DevOIDCClientSecret}},
		KeyFile: filepath.Join(s.o.DataDir, "oidc", "signing-key.pem"),
		Logger:  logger,
	})
	if err != nil {
		return err
	}
	if err := s.serveHTTP("dev OIDC provider", hostPort(s.ep.DevOIDCURL), p, logger); err != nil {
		return err
	}
	s.log.Info("oidc is up (embedded, development only)", "issuer", s.ep.DevOIDCURL, "client", DevOIDCClientID, "kid", p.KeyID())
	return nil
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/clientnet"
	"github.com/parleyhq/parley/platform/startup"

	"github.com/parleyhq/parley/services/auth/internal/auth"
	"github.com/parleyhq/parley/services/auth/internal/authdb"
	"github.com/parleyhq/parley/services/auth/internal/authoidc"
	"github.com/parleyhq/parley/services/auth/internal/authrpc"
	"github.com/parleyhq/parley/services/auth/internal/notificationclient"
)

// parsed is what the service parses from its configuration before connecting anywhere.
type parsed struct {
	totpKey        *auth.TOTPKey
	tokens         *auth.AccessTokens
	hasher         *auth.PasswordHasher
	oauthConfigs   []authoidc.Config
	throttle       auth.ThrottlePolicy
	trustedProxies clientnet.Proxies
}

// parse loads the keys and checks the hashing, sign-in and proxy settings: a misconfigured
// service must not start at all.
func parse(cfg Config, logger *slog.Logger) (own parsed, err error) {
	signingKey, generated, err := auth.LoadSigningKey(cfg.SigningKeyFile, cfg.GenerateSigningKey)
	if err != nil {
		return own, err
	}
	if generated {
		logger.Warn("generated a new signing key (AUTH_GENERATE_SIGNING_KEY=true); do not do this in production",
			slog.String("file", cfg.SigningKeyFile), slog.String("kid", signingKey.KeyID()))
	}
	if own.totpKey, generated, err = auth.LoadTOTPKey(cfg.TOTPKeyFile, cfg.GenerateTOTPKey); err != nil {
		return own, err
	}
	if generated {
		logger.Warn("generated a new TOTP key (AUTH_GENERATE_TOTP_KEY=true); do not do this in production",
			slog.String("file", cfg.TOTPKeyFile), slog.String("key_id", own.totpKey.ID()))
	}
	previous, err := auth.LoadPublicKeys(cfg.PreviousPublicKeysFile)
	if err != nil {
		return own, err
	}
	if own.tokens, err = auth.NewAccessTokens(signingKey, previous, cfg.JWTIssuer, cfg.JWTAudience, cfg.AccessTokenTTL); err != nil {
		return own, err
	}
	if own.hasher, err = auth.NewPasswordHasher(cfg.argon2Params(), cfg.hashConcurrency(), cfg.PasswordHashQueueTimeout); err != nil {
		return own, fmt.Errorf("AUTH_ARGON2_*: %w", err)
	}
	if own.oauthConfigs, err = cfg.oauthConfigs(); err != nil {
		return own, err
	}
	own.throttle = cfg.throttlePolicy()
	if err := own.throttle.Validate(); err != nil {
		return own, fmt.Errorf("AUTH_LOGIN_*: %w", err)
	}
	if own.trustedProxies, err = clientnet.ParseProxies(cfg.TrustedProxies); err != nil {
		return own, fmt.Errorf("AUTH_TRUSTED_PROXIES: %w", err)
	}
	logger.Info("access tokens", slog.String("kid", own.tokens.KeyID()), slog.Int("published_keys", own.tokens.PublicKeys().Len()),
		slog.String("argon2id", own.hasher.Params().String()), slog.Int("hash_concurrency", cfg.hashConcurrency()))
	return own, nil
}

// wire builds the auth service on the process startup.Run opened.
func wire(ctx context.Context, p *startup.Process[Config], own parsed) error {
	cfg, logger := p.Config, p.Logger
	oauth := &auth.OAuth{FlowTTL: cfg.OAuthFlowTTL}
	for _, pc := range own.oauthConfigs {
		provider, err := authoidc.New(ctx, pc, nil)
		if err != nil {
			return err
		}
		oauth.Providers = append(oauth.Providers, provider)
		logger.Info("oauth provider", slog.String("id", pc.ID), slog.String("issuer", pc.Issuer),
			slog.Any("redirect_uris", pc.RedirectURIs), slog.Bool("client_secret", pc.ClientSecret != ""))
	}

	store := authdb.New(p.Pool, p.Outbox)
	var mailer auth.Mailer
	var err error
	if cfg.InternalAPIToken == "" {
		logger.Warn("INTERNAL_API_TOKEN is not set: verification and password-reset emails are off")
	} else if mailer, err = notificationclient.New(p.PeerClient(), cfg.NotificationURL, cfg.InternalAPIToken, 0); err != nil {
		return err
	}
	if pk := cfg.passkeyConfig(); len(pk.Origins) == 0 {
		logger.Info("AUTH_PASSKEY_ORIGINS is not set: passkeys are off")
	} else {
		logger.Info("passkeys", slog.String("rp_id", pk.RPID), slog.Any("origins", pk.Origins))
	}
	svc, err := auth.NewService(auth.Deps{
		Passkeys: cfg.passkeyConfig(),
		Mailer:   mailer,
		TOTPKey:  own.totpKey,
		Resets: auth.ResetPolicy{
			TTL: cfg.PasswordResetTTL, PerEmail: cfg.PasswordResetsPerEmail, PerClient: cfg.PasswordResetsPerClient, Window: cfg.PasswordResetWindow,
		},
		OAuth:           oauth,
		Store:           store,
		Hasher:          own.hasher,
		Tokens:          own.tokens,
		RefreshTokenTTL: cfg.RefreshTokenTTL,
		Throttle:        own.throttle,
		Logger:          logger,
	})
	if err != nil {
		return err
	}

	// The service verifies the tokens it issues with the same code every other service uses,
	// over its own public keys.
	keys := own.tokens.PublicKeys()
	verifier := authn.NewVerifier(authn.StaticKeys{Set: keys}, cfg.JWTIssuer, cfg.JWTAudience)
	jwks, err := authrpc.JWKSHandler(keys, cfg.JWKSMaxAge)
	if err != nil {
		return err
	}
	p.Server.Mount(authrpc.NewHandler(svc, verifier, logger, own.trustedProxies, p.Telemetry))
	p.Server.Handle("GET "+authrpc.JWKSPath, jwks)
	p.Every(cfg.SessionCleanupInterval, func(ctx context.Context) { cleanUp(ctx, store, own.throttle, logger) })
	return nil
}

// cleanUp deletes expired sessions (with their refresh tokens; a day of grace keeps a
// just-expired token recognisable for clearer errors), expired sign-in challenges and
// login-throttle rows that no longer change any decision: one round, run every
// AUTH_SESSION_CLEANUP_INTERVAL.
func cleanUp(ctx context.Context, store *authdb.Store, throttle auth.ThrottlePolicy, logger *slog.Logger) {
	drain(ctx, logger, "expired sessions", func() (int64, error) { return store.DeleteExpired(ctx, time.Now(), 24*time.Hour) })
	drain(ctx, logger, "expired sign-in challenges", func() (int64, error) { return store.DeleteExpiredLoginChallenges(ctx, time.Now()) })
	drain(ctx, logger, "stale login throttle rows", func() (int64, error) {
		return store.DeleteStaleLoginThrottle(ctx, time.Now(), throttle)
	})
}

// drain calls del, which deletes at most authdb.DeleteBatch rows (of each kind), until it deletes
// fewer or fails.
func drain(ctx context.Context, logger *slog.Logger, what string, del func() (int64, error)) {
	for {
		n, err := del()
		if err != nil {
			if ctx.Err() == nil {
				logger.Warn("delete "+what, slog.Any("error", err))
			}
			return
		}
		if n > 0 {
			logger.Info("deleted "+what, slog.Int64("count", n))
		}
		if n < authdb.DeleteBatch {
			return
		}
	}
}

// service is how auth starts (platform/startup): main runs it, and so do the tests, on a listener
// of their own.
func service() startup.Service[Config] {
	s := startup.Service[Config]{Name: "auth", Defaults: defaults, Validate: Config.validate, Migrations: authdb.Migrations}
	s.Prepare, s.Wire = startup.Parsed(parse, wire)
	return s
}

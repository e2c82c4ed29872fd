package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/clientnet"
	"github.com/parleyhq/parley/platform/config"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/kafkaconn"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/platform/telemetry"

	"github.com/parleyhq/parley/services/auth/internal/auth"
	"github.com/parleyhq/parley/services/auth/internal/authdb"
	"github.com/parleyhq/parley/services/auth/internal/authoidc"
	"github.com/parleyhq/parley/services/auth/internal/authrpc"
	"github.com/parleyhq/parley/services/auth/internal/notificationclient"
)

// run serves until ctx ends; with args ["migrate"] it applies the migrations and returns.
func run(ctx context.Context, logger *slog.Logger, args []string) error {
	return runOn(ctx, logger, args, nil)
}

// runOn is run with an optional listener already open (tests listen on port 0).
func runOn(ctx context.Context, logger *slog.Logger, args []string, ln net.Listener) error {
	migrateOnly, err := server.MigrateOnly("auth", args)
	if err != nil {
		return err
	}

	cfg, err := config.Start(logger, defaults, Config.validate)
	if err != nil {
		return err
	}

	if migrateOnly {
		return migrate(ctx, logger, cfg)
	}

	// Keys and hashing are checked first: a misconfigured service must not start at all.
	signingKey, generated, err := auth.LoadSigningKey(cfg.SigningKeyFile, cfg.GenerateSigningKey)
	if err != nil {
		return err
	}
	if generated {
		logger.Warn("generated a new signing key (AUTH_GENERATE_SIGNING_KEY=true); do not do this in production",
			slog.String("file", cfg.SigningKeyFile), slog.String("kid", signingKey.KeyID()))
	}
	totpKey, generated, err := auth.LoadTOTPKey(cfg.TOTPKeyFile, cfg.GenerateTOTPKey)
	if err != nil {
		return err
	}
	if generated {
		logger.Warn("generated a new TOTP key (AUTH_GENERATE_TOTP_KEY=true); do not do this in production",
			slog.String("file", cfg.TOTPKeyFile), slog.String("key_id", totpKey.ID()))
	}
	previous, err := auth.LoadPublicKeys(cfg.PreviousPublicKeysFile)
	if err != nil {
		return err
	}
	tokens, err := auth.NewAccessTokens(signingKey, previous, cfg.JWTIssuer, cfg.JWTAudience, cfg.AccessTokenTTL)
	if err != nil {
		return err
	}
	hasher, err := auth.NewPasswordHasher(cfg.argon2Params(), cfg.hashConcurrency(), cfg.PasswordHashQueueTimeout)
	if err != nil {
		return fmt.Errorf("AUTH_ARGON2_*: %w", err)
	}
	oauthConfigs, err := cfg.oauthConfigs()
	if err != nil {
		return err
	}
	throttle := cfg.throttlePolicy()
	if err := throttle.Validate(); err != nil {
		return fmt.Errorf("AUTH_LOGIN_*: %w", err)
	}
	trustedProxies, err := clientnet.ParseProxies(cfg.TrustedProxies)
	if err != nil {
		return fmt.Errorf("AUTH_TRUSTED_PROXIES: %w", err)
	}
	logger.Info("access tokens", slog.String("kid", tokens.KeyID()), slog.Int("published_keys", tokens.PublicKeys().Len()),
		slog.String("argon2id", hasher.Params().String()), slog.Int("hash_concurrency", cfg.hashConcurrency()))

	tel, err := telemetry.Start(ctx, logger, "auth")
	if err != nil {
		return err
	}
	defer tel.Shutdown()
	pool, err := events.OpenDatabase(ctx, cfg.DatabaseURL, cfg.DatabaseWait, authdb.Component, authdb.Migrations, tel)
	if err != nil {
		return err
	}
	defer pool.Close()

	oauth := &auth.OAuth{FlowTTL: cfg.OAuthFlowTTL}
	for _, pc := range oauthConfigs {
		p, err := authoidc.New(ctx, pc, nil)
		if err != nil {
			return err
		}
		oauth.Providers = append(oauth.Providers, p)
		logger.Info("oauth provider", slog.String("id", pc.ID), slog.String("issuer", pc.Issuer),
			slog.Any("redirect_uris", pc.RedirectURIs), slog.Bool("client_secret", pc.ClientSecret != ""))
	}

	outbox := events.NewOutbox("auth")
	outbox.Headers = tel.TraceHeaders
	store := authdb.New(pool, outbox)
	var mailer auth.Mailer
	if cfg.InternalAPIToken == "" {
		logger.Warn("INTERNAL_API_TOKEN is not set: verification and password-reset emails are off")
	} else if mailer, err = notificationclient.New(tel.HTTPClient(server.H2CClient()), cfg.NotificationURL, cfg.InternalAPIToken, 0); err != nil {
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
		TOTPKey:  totpKey,
		Resets: auth.ResetPolicy{
			TTL: cfg.PasswordResetTTL, PerEmail: cfg.PasswordResetsPerEmail, PerClient: cfg.PasswordResetsPerClient, Window: cfg.PasswordResetWindow,
		},
		OAuth:           oauth,
		Store:           store,
		Hasher:          hasher,
		Tokens:          tokens,
		RefreshTokenTTL: cfg.RefreshTokenTTL,
		Throttle:        throttle,
		Logger:          logger,
	})
	if err != nil {
		return err
	}

	// The service verifies the tokens it issues with the same code every other service uses,
	// over its own public keys.
	verifier := authn.NewVerifier(authn.StaticKeys{Set: tokens.PublicKeys()}, cfg.JWTIssuer, cfg.JWTAudience)
	jwks, err := authrpc.JWKSHandler(tokens.PublicKeys(), cfg.JWKSMaxAge)
	if err != nil {
		return err
	}
	srv := server.New(logger, cfg.ListenAddr)
	srv.AdminAddr = cfg.AdminAddr
	srv.Telemetry = tel
	srv.ShutdownTimeout = cfg.ShutdownTimeout
	srv.Mount(authrpc.NewHandler(svc, verifier, logger, trustedProxies, tel))
	srv.Handle("GET "+authrpc.JWKSPath, jwks)
	srv.AddReadinessCheck("database", pool.Ping)

	// The files KAFKA_TLS_CA_FILE and KAFKA_SASL_PASSWORD_FILE name are read here, not for
	// `migrate`, which has no Kafka client.
	kafkaOpts, err := kafkaconn.Options(cfg.Kafka)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	relay, err := events.NewRelay(events.RelayConfig{Pool: pool, Brokers: cfg.KafkaBrokers, ClientOpts: kafkaOpts, Logger: logger, Telemetry: tel})
	if err != nil {
		return err
	}

	return srv.RunWith(ctx, ln,
		relay.Run,
		func(ctx context.Context) error {
			cleanUp(ctx, store, cfg.SessionCleanupInterval, throttle, logger)
			return nil
		},
	)
}

// migrate applies the migrations and returns: `auth migrate`, run by operators before a rollout.
func migrate(ctx context.Context, logger *slog.Logger, cfg Config) error {
	pool, err := events.OpenDatabase(ctx, cfg.DatabaseURL, cfg.DatabaseWait, authdb.Component, authdb.Migrations, nil)
	if err != nil {
		return err
	}
	pool.Close()
	logger.Info("migrations applied")
	return nil
}

// cleanUp deletes, every interval until ctx ends, expired sessions (with their refresh tokens;
// a day of grace keeps a just-expired token recognisable for clearer errors), expired sign-in
// challenges and login-throttle rows that no longer change any decision.
func cleanUp(ctx context.Context, store *authdb.Store, interval time.Duration, throttle auth.ThrottlePolicy, logger *slog.Logger) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		drain(ctx, logger, "expired sessions", func() (int64, error) { return store.DeleteExpired(ctx, time.Now(), 24*time.Hour) })
		drain(ctx, logger, "expired sign-in challenges", func() (int64, error) { return store.DeleteExpiredLoginChallenges(ctx, time.Now()) })
		drain(ctx, logger, "stale login throttle rows", func() (int64, error) {
			return store.DeleteStaleLoginThrottle(ctx, time.Now(), throttle)
		})
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
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

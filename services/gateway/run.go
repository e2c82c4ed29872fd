package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/config"
	"github.com/parleyhq/parley/services/gateway/internal/gateway"
	"github.com/parleyhq/parley/services/gateway/internal/ratelimit"
)

// run loads the configuration, wires the gateway and serves until ctx ends.
func run(ctx context.Context, logger *slog.Logger) error {
	cfg, err := config.Load[Config]()
	if err != nil {
		return err
	}
	logger.InfoContext(ctx, "configuration", config.Attrs(cfg)...)

	upstreams, err := upstreamsFrom(cfg)
	if err != nil {
		return err
	}

	keys, err := authn.NewRemoteJWKS(ctx, cfg.AuthJWKSURL, &http.Client{Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("jwks: %w", err)
	}

	limiter := ratelimit.New(logger, ratelimit.Options{})
	defer limiter.Close()
	if err := limiter.Connect(ctx, cfg.RedisURL); err != nil {
		return err
	}

	gw, err := gateway.New(gateway.Options{
		Logger:                logger,
		Upstreams:             upstreams,
		Verifier:              authn.NewVerifier(keys, cfg.JWTIssuer, cfg.JWTAudience),
		PublicProcedures:      cfg.PublicProcedures,
		CORSAllowedOrigins:    cfg.CORSAllowedOrigins,
		CORSMaxAge:            cfg.CORSMaxAge,
		MaxBodyBytes:          cfg.MaxBodyBytes,
		Limiter:               limiter,
		AuthLimitedProcedures: cfg.RateLimitAuthProcedures,
		AuthLimit:             cfg.RateLimitAuth,
		UserLimit:             cfg.RateLimitUser,
		RateWindow:            cfg.RateLimitWindow,
		TrustedProxies:        cfg.TrustedProxies,
		WebDir:                cfg.WebDir,
		ReadyTimeout:          cfg.ReadyTimeout,
	})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}

	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}
	return gw.Serve(ctx, ln, gateway.ServerOptions{
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ShutdownTimeout:   cfg.ShutdownTimeout,
	})
}

func upstreamsFrom(cfg Config) ([]gateway.Upstream, error) {
	list := []struct{ name, url string }{
		{"auth", cfg.AuthURL},
		{"profile", cfg.ProfileURL},
		{"friend", cfg.FriendURL},
		{"chat", cfg.ChatURL},
		{"notification", cfg.NotificationURL},
		{"media", cfg.MediaURL},
	}
	ups := make([]gateway.Upstream, 0, len(list))
	for _, u := range list {
		if u.url == "" {
			continue // not routed: its calls get NotFound, readiness ignores it
		}
		up, err := gateway.NewUpstream(u.name, u.url)
		if err != nil {
			return nil, err
		}
		ups = append(ups, up)
	}
	return ups, nil
}

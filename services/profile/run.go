package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1/profilev1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/config"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/kafkaconn"
	"github.com/parleyhq/parley/platform/redisconn"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/platform/telemetry"
	"github.com/parleyhq/parley/services/profile/internal/mediaclient"
	"github.com/parleyhq/parley/services/profile/internal/profile"
	"github.com/parleyhq/parley/services/profile/internal/profilecache"
	"github.com/parleyhq/parley/services/profile/internal/profiledb"
	"github.com/parleyhq/parley/services/profile/internal/profileevents"
	"github.com/parleyhq/parley/services/profile/internal/profilerpc"
)

// run serves until ctx ends; with args ["migrate"] it applies the migrations and returns.
func run(ctx context.Context, logger *slog.Logger, args []string) error {
	return runOn(ctx, logger, args, nil)
}

// runOn is run with an optional listener already open (tests listen on port 0).
func runOn(ctx context.Context, logger *slog.Logger, args []string, ln net.Listener) error {
	migrateOnly, err := server.MigrateOnly("profile", args)
	if err != nil {
		return err
	}

	cfg, err := config.Start(logger, defaults, Config.validate)
	if err != nil {
		return err
	}

	tel, err := telemetry.Start(ctx, logger, "profile")
	if err != nil {
		return err
	}
	defer tel.Shutdown()
	pool, err := events.OpenDatabase(ctx, cfg.DatabaseURL, cfg.DatabaseWait, "profile", profiledb.Migrations, tel)
	if err != nil {
		return err
	}
	defer pool.Close()
	if migrateOnly {
		logger.Info("migrations applied")
		return nil
	}

	redis, err := redisconn.Open(cfg.RedisURL)
	if err != nil {
		return err
	}
	defer redis.Close()

	keys, err := authn.NewRemoteJWKS(ctx, cfg.AuthJWKSURL, nil)
	if err != nil {
		return err
	}
	auth := authn.NewInterceptor(authn.NewVerifier(keys, cfg.JWTIssuer, cfg.JWTAudience), profilerpc.PublicProcedures...)

	outbox := events.NewOutbox("profile")
	outbox.Headers = tel.TraceHeaders
	store := profiledb.New(pool, outbox)
	store.FuzzyThreshold = cfg.SearchFuzzyThreshold
	cache := profilecache.New(redis, cfg.CacheTTL)
	svc := profile.NewService(store, cache, mediaclient.New(tel.HTTPClient(server.H2CClient()), cfg.MediaURL), logger)

	srv := server.New(logger, cfg.ListenAddr)
	srv.AdminAddr = cfg.AdminAddr
	srv.Telemetry = tel
	srv.Mount(profilev1connect.NewProfileServiceHandler(profilerpc.NewHandler(svc),
		server.HandlerOptions(logger, nil, tel.ServerInterceptor(), auth)...))
	srv.AddReadinessCheck("database", pool.Ping)
	srv.AddReadinessCheck("auth keys", keys.Ready) // the keys before traffic: see authn.RemoteJWKS.Ready

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
	consumer, err := events.NewConsumer(events.ConsumerConfig{
		Brokers: cfg.KafkaBrokers, ClientOpts: kafkaOpts, Group: profileevents.Group, Topics: profileevents.Topics, Pool: pool, Logger: logger,
		Telemetry: tel,
	})
	if err != nil {
		return err
	}
	profileevents.Register(consumer, store, cache, logger)

	return srv.RunWith(ctx, ln, relay.Run, consumer.Run)
}

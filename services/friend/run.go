package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1/friendv1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/config"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/kafkaconn"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/platform/telemetry"
	"github.com/parleyhq/parley/services/friend/internal/friend"
	"github.com/parleyhq/parley/services/friend/internal/frienddb"
	"github.com/parleyhq/parley/services/friend/internal/friendevents"
	"github.com/parleyhq/parley/services/friend/internal/friendrpc"
)

// run serves until ctx ends; with args ["migrate"] it applies the migrations and returns.
func run(ctx context.Context, logger *slog.Logger, args []string) error {
	return runOn(ctx, logger, args, nil)
}

// runOn is run with an optional listener already open (tests listen on port 0).
func runOn(ctx context.Context, logger *slog.Logger, args []string, ln net.Listener) error {
	migrateOnly, err := server.MigrateOnly("friend", args)
	if err != nil {
		return err
	}

	cfg, err := config.Start(logger, defaults, Config.validate)
	if err != nil {
		return err
	}

	tel, err := telemetry.Start(ctx, logger, "friend")
	if err != nil {
		return err
	}
	defer tel.Shutdown()
	pool, err := events.OpenDatabase(ctx, cfg.DatabaseURL, cfg.DatabaseWait, frienddb.Component, frienddb.Migrations, tel)
	if err != nil {
		return err
	}
	defer pool.Close()
	if migrateOnly {
		logger.Info("migrations applied")
		return nil
	}

	keys, err := authn.NewRemoteJWKS(ctx, cfg.AuthJWKSURL, nil)
	if err != nil {
		return err
	}
	// Every procedure needs an access token; CheckFriendship too (the calling service forwards
	// its user's, and it answers only about that user).
	auth := authn.NewInterceptor(authn.NewVerifier(keys, cfg.JWTIssuer, cfg.JWTAudience))

	outbox := events.NewOutbox("friend")
	outbox.Headers = tel.TraceHeaders
	store := frienddb.New(pool, outbox)
	svc := friend.NewService(store, friend.Limits{Requests: cfg.RequestLimit, Window: cfg.RequestWindow})

	srv := server.New(logger, cfg.ListenAddr)
	srv.AdminAddr = cfg.AdminAddr
	srv.Telemetry = tel
	srv.Mount(friendv1connect.NewFriendServiceHandler(friendrpc.NewHandler(svc),
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
		Brokers: cfg.KafkaBrokers, ClientOpts: kafkaOpts, Group: friendevents.Group, Topics: friendevents.Topics, Pool: pool, Logger: logger,
		Telemetry: tel,
	})
	if err != nil {
		return err
	}
	friendevents.Register(consumer, store, logger)

	return srv.RunWith(ctx, ln, relay.Run, consumer.Run)
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1/chatv1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/config"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/kafkaconn"
	"github.com/parleyhq/parley/platform/redisconn"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/platform/telemetry"
	"github.com/parleyhq/parley/services/chat/internal/chat"
	"github.com/parleyhq/parley/services/chat/internal/chatcache"
	"github.com/parleyhq/parley/services/chat/internal/chatdb"
	"github.com/parleyhq/parley/services/chat/internal/chatevents"
	"github.com/parleyhq/parley/services/chat/internal/chatrpc"
	"github.com/parleyhq/parley/services/chat/internal/friendclient"
	"github.com/parleyhq/parley/services/chat/internal/mediaclient"
)

// run serves until ctx ends; with args ["migrate"] it applies the migrations and returns.
func run(ctx context.Context, logger *slog.Logger, args []string) error {
	return runOn(ctx, logger, args, nil)
}

// runOn is run with an optional listener already open (tests listen on port 0).
func runOn(ctx context.Context, logger *slog.Logger, args []string, ln net.Listener) error {
	migrateOnly, err := server.MigrateOnly("chat", args)
	if err != nil {
		return err
	}

	cfg, err := config.Start(logger, defaults, Config.validate)
	if err != nil {
		return err
	}

	dbURL, err := withMaxConns(cfg.DatabaseURL, cfg.DatabaseMaxConns)
	if err != nil {
		return err
	}
	tel, err := telemetry.Start(ctx, logger, "chat")
	if err != nil {
		return err
	}
	defer tel.Shutdown()
	pool, err := events.OpenDatabase(ctx, dbURL, cfg.DatabaseWait, chatdb.Component, chatdb.Migrations, tel)
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
	auth := authn.NewInterceptor(authn.NewVerifier(keys, cfg.JWTIssuer, cfg.JWTAudience))

	// Sends commit in groups rather than one at a time behind NOTIFY's commit lock: the store wakes
	// this process's relay after each commit instead (events.Outbox.Wake, docs/chat.md).
	outbox := events.NewOutbox("chat")
	outbox.WakeRelay = false
	outbox.Headers = tel.TraceHeaders
	peers := tel.HTTPClient(server.H2CClient())
	store := chatdb.New(pool, outbox)
	cache := chatcache.New(redis, cfg.FriendshipCacheTTL)
	files := mediaclient.New(peers, cfg.MediaURL, cfg.InternalAPIToken, cfg.MediaTimeout)
	svc := chat.NewService(store, friendclient.New(peers, cfg.FriendURL, cfg.FriendTimeout), cache, files, logger)

	srv := server.New(logger, cfg.ListenAddr)
	srv.AdminAddr = cfg.AdminAddr
	srv.Telemetry = tel
	srv.Mount(chatv1connect.NewChatServiceHandler(chatrpc.NewHandler(svc),
		server.HandlerOptions(logger, nil, tel.ServerInterceptor(), auth)...))
	srv.AddReadinessCheck("database", pool.Ping)
	srv.AddReadinessCheck("auth keys", keys.Ready) // the keys before traffic: see authn.RemoteJWKS.Ready

	// The files KAFKA_TLS_CA_FILE and KAFKA_SASL_PASSWORD_FILE name are read here, not for
	// `migrate`, which has no Kafka client.
	kafkaOpts, err := kafkaconn.Options(cfg.Kafka)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	relay, err := events.NewRelay(events.RelayConfig{Pool: pool, Brokers: cfg.KafkaBrokers, ClientOpts: kafkaOpts, Logger: logger,
		PollInterval: cfg.OutboxPollInterval, Wakeups: outbox.Wakeups(), Linger: cfg.OutboxLinger, Telemetry: tel})
	if err != nil {
		return err
	}
	consumer, err := events.NewConsumer(events.ConsumerConfig{
		Brokers: cfg.KafkaBrokers, ClientOpts: kafkaOpts, Group: chatevents.Group, Topics: chatevents.Topics, Pool: pool, Logger: logger,
		Telemetry: tel,
	})
	if err != nil {
		return err
	}
	chatevents.Register(consumer, store, cache, logger)

	return srv.RunWith(ctx, ln, relay.Run, consumer.Run)
}

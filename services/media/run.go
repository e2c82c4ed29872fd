package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/parleyhq/parley/contracts/gen/go/parley/media/v1/mediav1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/config"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/kafkaconn"
	"github.com/parleyhq/parley/platform/redisconn"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/platform/telemetry"
	"github.com/parleyhq/parley/services/media/internal/chatclient"
	"github.com/parleyhq/parley/services/media/internal/media"
	"github.com/parleyhq/parley/services/media/internal/mediadb"
	"github.com/parleyhq/parley/services/media/internal/mediaevents"
	"github.com/parleyhq/parley/services/media/internal/mediarpc"
	"github.com/parleyhq/parley/services/media/internal/mediastorage"
)

// run serves until ctx ends; with args ["migrate"] it applies the migrations and returns.
func run(ctx context.Context, logger *slog.Logger, args []string) error {
	return runOn(ctx, logger, args, nil)
}

// runOn is run with an optional listener already open (tests listen on port 0).
func runOn(ctx context.Context, logger *slog.Logger, args []string, ln net.Listener) error {
	migrateOnly, err := server.MigrateOnly("media", args)
	if err != nil {
		return err
	}

	validate := Config.validate
	if migrateOnly {
		validate = nil // `media migrate` needs no S3 credentials
	}
	cfg, err := config.Start(logger, defaults, validate)
	if err != nil {
		return err
	}

	tel, err := telemetry.Start(ctx, logger, "media")
	if err != nil {
		return err
	}
	defer tel.Shutdown()
	pool, err := events.OpenDatabase(ctx, cfg.DatabaseURL, cfg.DatabaseWait, "media", mediadb.Migrations, tel)
	if err != nil {
		return err
	}
	defer pool.Close()
	if migrateOnly {
		logger.Info("migrations applied")
		return nil
	}

	objects, err := mediastorage.New(mediastorage.Config{
		Endpoint: cfg.S3Endpoint, PublicEndpoint: cfg.BrowserS3Endpoint(), Region: cfg.S3Region,
		AccessKey: cfg.S3AccessKey, SecretKey: cfg.S3SecretKey, Bucket: cfg.S3Bucket,
	})
	if err != nil {
		return err
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
	auth := authn.NewInterceptor(authn.NewVerifier(keys, cfg.JWTIssuer, cfg.JWTAudience), mediarpc.PublicProcedures...)

	outbox := events.NewOutbox("media")
	outbox.Headers = tel.TraceHeaders
	store := mediadb.New(pool, outbox)
	svc := media.NewService(media.Options{
		Store:        store,
		Objects:      objects,
		Chats:        chatclient.New(tel.HTTPClient(server.H2CClient()), cfg.ChatURL, cfg.InternalAPIToken, redis, cfg.ChatAccessCacheTTL, logger),
		URLs:         media.NewURLSigner(cfg.MediaPublicURL, cfg.signingKey(), cfg.URLTTL),
		Limits:       cfg.limits(),
		Logger:       logger,
		ImageWorkers: cfg.ImageWorkers,
		ImageTimeout: cfg.ImageTimeout,
	})

	srv := server.New(logger, cfg.ListenAddr)
	srv.AdminAddr = cfg.AdminAddr
	srv.Telemetry = tel
	srv.Mount(mediav1connect.NewMediaServiceHandler(mediarpc.NewHandler(svc, cfg.InternalAPIToken),
		server.HandlerOptions(logger, nil, tel.ServerInterceptor(), auth)...))
	srv.Handle(mediarpc.DownloadPattern, mediarpc.NewDownload(svc, logger, nil))
	srv.AddReadinessCheck("database", pool.Ping)
	srv.AddReadinessCheck("auth keys", keys.Ready) // the keys before traffic: see authn.RemoteJWKS.Ready
	srv.AddReadinessCheck("s3", objects.Ping)

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
		Brokers: cfg.KafkaBrokers, ClientOpts: kafkaOpts, Group: mediaevents.Group, Topics: mediaevents.Topics, Pool: pool, Logger: logger,
		Telemetry: tel,
	})
	if err != nil {
		return err
	}
	mediaevents.Register(consumer, store, logger)

	return srv.RunWith(ctx, ln,
		relay.Run,
		consumer.Run,
		func(ctx context.Context) error {
			return svc.RunJanitor(ctx, cfg.JanitorInterval, cfg.RejectedRetention)
		},
	)
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"time"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1/notificationv1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/config"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/kafkaconn"
	"github.com/parleyhq/parley/platform/redisconn"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/platform/telemetry"
	"github.com/parleyhq/parley/services/notification/internal/mailer"
	"github.com/parleyhq/parley/services/notification/internal/notification"
	"github.com/parleyhq/parley/services/notification/internal/notificationdb"
	"github.com/parleyhq/parley/services/notification/internal/notificationevents"
	"github.com/parleyhq/parley/services/notification/internal/notificationrpc"
	"github.com/parleyhq/parley/services/notification/internal/presence"
	"github.com/parleyhq/parley/services/notification/internal/webpush"
)

// run serves until ctx ends; with args ["migrate"] it applies the migrations and returns.
func run(ctx context.Context, logger *slog.Logger, args []string) error {
	return runOn(ctx, logger, args, nil)
}

// runOn is run with an optional listener already open (tests listen on port 0).
func runOn(ctx context.Context, logger *slog.Logger, args []string, ln net.Listener) error {
	migrateOnly, err := server.MigrateOnly("notification", args)
	if err != nil {
		return err
	}

	cfg, err := config.Start(logger, defaults, Config.validate)
	if err != nil {
		return err
	}
	// Everything that can be refused without a network is checked before connecting anywhere.
	from, err := cfg.from()
	if err != nil {
		return err
	}
	emails, err := notification.NewEmails(cfg.PublicWebURL)
	if err != nil {
		return fmt.Errorf("PUBLIC_WEB_URL: %w", err)
	}
	smtp, err := mailer.New(cfg.SMTPURL, mailer.WithTimeout(cfg.SMTPTimeout))
	if err != nil {
		return fmt.Errorf("SMTP_URL: %w", err)
	}
	push, err := pushConfig(cfg, from, logger)
	if err != nil {
		return err
	}

	tel, err := telemetry.Start(ctx, logger, "notification")
	if err != nil {
		return err
	}
	defer tel.Shutdown()
	pool, err := events.OpenDatabase(ctx, cfg.DatabaseURL, cfg.DatabaseWait, notificationdb.Component, notificationdb.Migrations, tel)
	if err != nil {
		return err
	}
	defer pool.Close()
	if migrateOnly {
		logger.Info("migrations applied")
		return nil
	}
	if cfg.InternalAPIToken == "" {
		logger.Warn("INTERNAL_API_TOKEN is not set: every Notify call will be refused")
	}

	redis, err := redisconn.Open(cfg.RedisURL, func(o *rueidis.ClientOption) {
		o.DisableCache = true // presence is read once per digest; nothing to cache
	})
	if err != nil {
		return err
	}
	defer redis.Close()

	keys, err := authn.NewRemoteJWKS(ctx, cfg.AuthJWKSURL, nil)
	if err != nil {
		return err
	}
	auth := authn.NewInterceptor(authn.NewVerifier(keys, cfg.JWTIssuer, cfg.JWTAudience), notificationrpc.PublicProcedures...)

	outbox := events.NewOutbox("notification")
	outbox.Headers = tel.TraceHeaders
	store := notificationdb.New(pool, outbox)
	store.WatchEmailQueue(tel)
	svc, err := notification.NewService(notification.Config{
		Store: store, Emails: emails, MessageIDDomain: messageIDDomain(from), DigestDelay: cfg.DigestDelay, Push: push, Logger: logger,
	})
	if err != nil {
		return err
	}
	dispatcher, err := notification.NewDispatcher(notification.DispatcherConfig{
		Service: svc, Store: store, Mailer: &mailer.Notifications{Sender: smtp, From: *from},
		Presence: presence.New(redis, logger), Logger: logger,
		PollInterval: cfg.EmailPollInterval, OfflineAfter: cfg.OfflineAfter, SendTimeout: cfg.SMTPTimeout,
		RetryBackoff: cfg.EmailRetryBackoff, MaxAttempts: cfg.EmailMaxAttempts,
	})
	if err != nil {
		return err
	}

	srv := server.New(logger, cfg.ListenAddr)
	srv.AdminAddr = cfg.AdminAddr
	srv.Telemetry = tel
	srv.ShutdownTimeout = cfg.ShutdownTimeout
	srv.Mount(notificationv1connect.NewNotificationServiceHandler(notificationrpc.NewHandler(svc, cfg.InternalAPIToken),
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
		Brokers: cfg.KafkaBrokers, ClientOpts: kafkaOpts, Group: notificationevents.Group, Topics: notificationevents.Topics, Pool: pool, Logger: logger,
		Telemetry: tel,
		// Up to ~400 events a fetch; under that, the broker answers after ConsumerFetchWait.
		FetchMaxWait: cfg.ConsumerFetchWait, FetchMinBytes: 256 << 10,
	})
	if err != nil {
		return err
	}
	notificationevents.Register(consumer, svc, store)

	retention := notification.Retention{
		ReadNotifications: cfg.NotificationRetention,
		NotifyKeys:        notification.NotifyKeyRetention,
		Deliveries:        30 * 24 * time.Hour,
	}
	return srv.RunWith(ctx, ln,
		relay.Run,
		consumer.Run,
		dispatcher.Run,
		func(ctx context.Context) error {
			cleanup(ctx, store, retention, cfg.CleanupInterval, logger)
			return nil
		},
	)
}

// pushConfig loads the VAPID key and builds the push channel; nil (off) when PUSH_VAPID_KEY_FILE
// is unset.
func pushConfig(cfg Config, from *mail.Address, logger *slog.Logger) (*notification.PushConfig, error) {
	if cfg.PushVAPIDKeyFile == "" {
		logger.Warn("PUSH_VAPID_KEY_FILE is not set: no push notifications (GetPushPublicKey and RegisterPushSubscription answer failed_precondition)")
		return nil, nil
	}
	key, generated, err := webpush.LoadVAPIDKey(cfg.PushVAPIDKeyFile, cfg.PushGenerateVAPIDKey)
	if err != nil {
		return nil, fmt.Errorf("PUSH_VAPID_KEY_FILE: %w", err)
	}
	if generated {
		logger.Warn("generated a new VAPID key (development only): browsers subscribed with another key get no pushes",
			"file", cfg.PushVAPIDKeyFile, "public_key", key.PublicKey())
	}
	if cfg.PushAllowPrivateEndpoints {
		logger.Warn("PUSH_ALLOW_PRIVATE_ENDPOINTS is on: pushes may go to loopback and private addresses (development only)")
	}
	subject := cfg.PushSubject
	if subject == "" {
		subject = "mailto:" + from.Address
	}
	sender, err := webpush.NewSender(webpush.Options{Key: key, Subject: subject, Timeout: cfg.PushTimeout,
		AllowPrivateEndpoints: cfg.PushAllowPrivateEndpoints})
	if err != nil {
		return nil, fmt.Errorf("PUSH_SUBJECT: %w", err)
	}
	return &notification.PushConfig{Pusher: &webpush.Notifications{Sender: sender}, TTL: cfg.PushTTL,
		OnlineWindow: cfg.PushOnlineWindow, RetryBackoff: cfg.PushRetryBackoff, MaxAttempts: cfg.PushMaxAttempts,
		Timeout: cfg.PushTimeout}, nil
}

// cleanup deletes what has outlived its retention every interval until ctx ends.
func cleanup(ctx context.Context, store *notificationdb.Store, r notification.Retention, interval time.Duration, logger *slog.Logger) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := store.Cleanup(ctx, time.Now(), r)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Warn("clean-up failed", slog.Any("error", err))
		case n > 0:
			logger.Info("deleted old rows", slog.Int64("count", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

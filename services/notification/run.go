package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/mail"
	"time"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1/notificationv1connect"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/startup"
	"github.com/parleyhq/parley/services/notification/internal/mailer"
	"github.com/parleyhq/parley/services/notification/internal/notification"
	"github.com/parleyhq/parley/services/notification/internal/notificationdb"
	"github.com/parleyhq/parley/services/notification/internal/notificationevents"
	"github.com/parleyhq/parley/services/notification/internal/notificationrpc"
	"github.com/parleyhq/parley/services/notification/internal/presence"
	"github.com/parleyhq/parley/services/notification/internal/webpush"
)

// parsed is what the service parses from its configuration before connecting anywhere.
type parsed struct {
	from   *mail.Address
	emails *notification.Emails
	smtp   *mailer.Sender
	push   *notification.PushConfig
}

// parse checks everything that can be refused without a network, before connecting anywhere.
func parse(cfg Config, logger *slog.Logger) (parsed, error) {
	from, err := cfg.from()
	if err != nil {
		return parsed{}, err
	}
	emails, err := notification.NewEmails(cfg.PublicWebURL)
	if err != nil {
		return parsed{}, fmt.Errorf("PUBLIC_WEB_URL: %w", err)
	}
	smtp, err := mailer.New(cfg.SMTPURL, mailer.WithTimeout(cfg.SMTPTimeout))
	if err != nil {
		return parsed{}, fmt.Errorf("SMTP_URL: %w", err)
	}
	push, err := pushConfig(cfg, from, logger)
	if err != nil {
		return parsed{}, err
	}
	return parsed{from: from, emails: emails, smtp: smtp, push: push}, nil
}

// wire builds the notification service on the process startup.Run opened.
func wire(ctx context.Context, p *startup.Process[Config], own parsed) error {
	cfg, logger := p.Config, p.Logger
	if cfg.InternalAPIToken == "" {
		logger.Warn("INTERNAL_API_TOKEN is not set: every internal call (Notify, SendPasswordReset, SendEmailVerification) will be refused")
	}
	redis, err := p.Redis(cfg.RedisURL, func(o *rueidis.ClientOption) {
		o.DisableCache = true // presence is read once per digest; nothing to cache
	})
	if err != nil {
		return err
	}

	store := notificationdb.New(p.Pool, p.Outbox)
	store.WatchEmailQueue(p.Telemetry)
	svc, err := notification.NewService(notification.Config{
		Store: store, Emails: own.emails, MessageIDDomain: messageIDDomain(own.from), DigestDelay: cfg.DigestDelay, Push: own.push,
		Logger: logger,
	})
	if err != nil {
		return err
	}
	dispatcher, err := notification.NewDispatcher(notification.DispatcherConfig{
		Service: svc, Store: store, Mailer: &mailer.Notifications{Sender: own.smtp, From: *own.from},
		Presence: presence.New(redis, logger), Logger: logger,
		PollInterval: cfg.EmailPollInterval, OfflineAfter: cfg.OfflineAfter, SendTimeout: cfg.SMTPTimeout,
		RetryBackoff: cfg.EmailRetryBackoff, MaxAttempts: cfg.EmailMaxAttempts,
	})
	if err != nil {
		return err
	}

	p.Server.Mount(notificationv1connect.NewNotificationServiceHandler(notificationrpc.NewHandler(svc, cfg.AcceptedInternalTokens(cfg.InternalAPIToken)),
		p.HandlerOptions()...))

	consumer, err := p.Consumer(notificationevents.Group, notificationevents.Topics, func(c *events.ConsumerConfig) {
		// Up to ~400 events a fetch; under that, the broker answers after ConsumerFetchWait.
		c.FetchMaxWait, c.FetchMinBytes = cfg.ConsumerFetchWait, 256<<10
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
	p.Go(dispatcher.Run)
	p.Every(cfg.CleanupInterval, func(ctx context.Context) { cleanup(ctx, store, retention, logger) })
	return nil
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

// cleanup deletes what has outlived its retention: one round, run every CLEANUP_INTERVAL.
func cleanup(ctx context.Context, store *notificationdb.Store, r notification.Retention, logger *slog.Logger) {
	n, err := store.Cleanup(ctx, time.Now(), r)
	switch {
	case err != nil && ctx.Err() == nil:
		logger.Warn("clean-up failed", slog.Any("error", err))
	case n > 0:
		logger.Info("deleted old rows", slog.Int64("count", n))
	}
}

// service is how notification starts (platform/startup): main runs it, and so do the tests, on a
// listener of their own.
func service() startup.Service[Config] {
	s := startup.Service[Config]{
		Name: "notification", Defaults: defaults, Validate: Config.validate, Migrations: notificationdb.Migrations,
		PublicProcedures: notificationrpc.PublicProcedures,
	}
	s.Prepare, s.Wire = startup.Parsed(parse, wire)
	return s
}

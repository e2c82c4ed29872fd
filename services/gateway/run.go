package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/redis/rueidis"

	"github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1/chatv1connect"
	"github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1/friendv1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/config"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/kafkaconn"
	"github.com/parleyhq/parley/platform/redisconn"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/platform/telemetry"
	"github.com/parleyhq/parley/services/gateway/internal/fanout"
	"github.com/parleyhq/parley/services/gateway/internal/gateway"
	"github.com/parleyhq/parley/services/gateway/internal/ratelimit"
	"github.com/parleyhq/parley/services/gateway/internal/realtime"
	"github.com/parleyhq/parley/services/gateway/internal/sessions"
)

// run loads the configuration, wires the gateway and serves until ctx ends.
func run(ctx context.Context, logger *slog.Logger) error {
	cfg, err := config.Load[Config]()
	if err != nil {
		return err
	}
	// Unset or empty lists (env leaves them nil) take the marks in the protos, resolved here so the
	// configuration line shows them; only a list of blanks (`,`) stays empty.
	if cfg.PublicProcedures == nil {
		cfg.PublicProcedures = gateway.DefaultPublicProcedures
	}
	if cfg.InternalProcedures == nil {
		cfg.InternalProcedures = gateway.DefaultInternalProcedures
	}
	if cfg.RateLimitAuthProcedures == nil {
		cfg.RateLimitAuthProcedures = gateway.DefaultAuthLimitedProcedures
	}
	logger.InfoContext(ctx, "configuration", config.Attrs(cfg)...)
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}

	upstreams, err := upstreamsFrom(cfg)
	if err != nil {
		return err
	}
	tel, err := telemetry.Start(ctx, logger, "gateway")
	if err != nil {
		return err
	}
	defer tel.Shutdown()

	keys, err := authn.NewRemoteJWKS(ctx, cfg.AuthJWKSURL, &http.Client{Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("jwks: %w", err)
	}

	// The gateway's one Redis client, which the rate limits, the revoked sessions, the hub and the
	// fan-out all read through this function: nil until it connects. It is opened below, once
	// everything that can refuse the configuration has been built (nothing calls this before).
	var redis *redisconn.Background
	redisClient := func() rueidis.Client {
		if redis == nil {
			return nil
		}
		return redis.Client()
	}

	limiter := ratelimit.New(logger, ratelimit.Options{Redis: redisClient})

	gw, err := gateway.New(gateway.Options{
		Logger:                logger,
		Upstreams:             upstreams,
		Verifier:              authn.NewVerifier(keys, cfg.JWTIssuer, cfg.JWTAudience),
		PublicProcedures:      cfg.PublicProcedures,
		InternalProcedures:    cfg.InternalProcedures,
		CORSAllowedOrigins:    cfg.CORSAllowedOrigins,
		CORSMaxAge:            cfg.CORSMaxAge,
		MaxBodyBytes:          cfg.MaxBodyBytes,
		Limiter:               limiter,
		AuthLimitedProcedures: cfg.RateLimitAuthProcedures,
		AuthLimit:             cfg.RateLimitAuth,
		UserLimit:             cfg.RateLimitUser,
		RateWindow:            cfg.RateLimitWindow,
		TrustedProxies:        cfg.TrustedProxies,
		InsecureRefreshCookie: !cfg.RefreshCookieSecure,
		WebDir:                cfg.WebDir,
		WebSources:            cfg.webSources(),
		ReadyTimeout:          cfg.ReadyTimeout,
		ReadyCacheTTL:         cfg.ReadyCacheTTL,
		ReadyToken:            cfg.ReadyzToken,
		Telemetry:             tel,
	})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}

	// One memory of revoked sessions for the API path and the WebSocket hub: a revocation either
	// learns is refused by both.
	revocations, err := sessions.New(sessions.Options{
		Redis:        redisClient,
		TTL:          cfg.RealtimeRevokedSessionTTL,
		CheckTimeout: cfg.RealtimeRevocationCheckTimeout,
	})
	if err != nil {
		return fmt.Errorf("realtime: %w", err)
	}
	hub, err := newHub(logger, cfg, gw, redisClient, revocations, tel)
	if err != nil {
		return err
	}
	// With client-side caching for the revoked-session checks (nothing else reads through the
	// cache; a few MiB hold tens of thousands of sessions' answers). Closed last, after the hub
	// has unregistered its connections.
	redis, err = redisconn.OpenInBackground(ctx, cfg.RedisURL, redisconn.Retry{
		MinWait: cfg.RealtimeRedisReconnectMin, MaxWait: cfg.RealtimeRedisReconnectMax,
		Unreachable: func(err error) {
			logger.WarnContext(ctx, "redis unreachable at start: rate limits are off and WebSocket connections are refused until it answers", slog.Any("error", err))
		},
		Wrap: tel.Redis,
	}, func(o *rueidis.ClientOption) { o.CacheSizeEachConn = 8 << 20 })
	if err != nil {
		return err
	}
	defer redis.Close()
	consumer, err := newFanout(ctx, logger, cfg, redisClient, revocations, tel)
	if err != nil {
		return err
	}
	gw.Echo().GET(realtime.Path, hub.Serve, gw.LimitPerIP())
	gw.SetSessionCheck(revocations.Revoked)
	// Reported, not required: without the hub's Redis the API still works (WebSockets get 1013).
	// Not ready before it holds the auth service's keys: a gateway that took traffic first would
	// fetch them with its first call, and answer Unavailable while that fails (an auth replica
	// stopping in a rolling restart refuses it).
	gw.AddReadinessCheck(gateway.ReadinessCheck{Name: "auth keys", Required: true, Check: keys.Ready})
	gw.AddReadinessCheck(gateway.ReadinessCheck{Name: "realtime redis", Check: func(context.Context) error {
		if s := hub.RedisState(); !s.Up() {
			return fmt.Errorf("subscription %s", s)
		}
		return nil
	}})

	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}
	adminLn, err := server.ListenAdmin(cfg.AdminAddr)
	if err != nil {
		_ = ln.Close()
		return err
	}
	// The WebSocket hub and the Kafka fan-out live as long as the server; neither may stop the
	// API from serving (Kafka or Redis down only delays or refuses realtime delivery).
	bg, stopBG := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { hub.Run(bg) })
	wg.Go(func() {
		readyDetails := server.AdminRoute{Pattern: "GET /readyz", Handler: gw.ReadyDetailsHandler()}
		if err := server.ServeAdmin(bg, logger, adminLn, readyDetails, server.MetricsRoute(tel)); err != nil {
			logger.ErrorContext(bg, "admin listener stopped", slog.Any("error", err))
		}
	})
	if consumer != nil {
		wg.Go(func() {
			if err := consumer.Run(bg); err != nil {
				logger.ErrorContext(bg, "realtime consumer stopped", slog.Any("error", err))
			}
		})
	}
	err = gw.Serve(ctx, ln, gateway.ServerOptions{
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ShutdownTimeout:   cfg.ShutdownTimeout,
	})
	stopBG()
	wg.Wait()
	return err
}

// newHub builds the WebSocket hub.
func newHub(logger *slog.Logger, cfg Config, gw *gateway.Gateway, redis func() rueidis.Client, revocations *sessions.Revocations, tel *telemetry.Telemetry) (*realtime.Hub, error) {
	httpClient := tel.HTTPClient(&http.Client{Transport: server.H2CTransport()})
	maxConns := cfg.RealtimeMaxConnsPerUser
	if maxConns == 0 {
		maxConns = -1 // 0 in the environment means no limit
	}
	hub, err := realtime.New(realtime.Options{
		Logger:            logger,
		Redis:             redis,
		Verifier:          gw,
		Chat:              chatv1connect.NewChatServiceClient(httpClient, cfg.ChatURL, connect.WithGRPC()),
		Friends:           friendv1connect.NewFriendServiceClient(httpClient, cfg.FriendURL, connect.WithGRPC()),
		AllowedOrigins:    cfg.CORSAllowedOrigins,
		MaxConnsPerUser:   maxConns,
		SendBuffer:        cfg.RealtimeSendBuffer,
		MaxFrameBytes:     cfg.RealtimeMaxFrameBytes,
		AuthTimeout:       cfg.RealtimeAuthTimeout,
		PingInterval:      cfg.RealtimePingInterval,
		PingTimeout:       cfg.RealtimePingTimeout,
		WriteTimeout:      cfg.RealtimeWriteTimeout,
		PresenceInterval:  cfg.RealtimePresenceInterval,
		SyncMaxChats:      cfg.RealtimeSyncMaxChats,
		SyncMaxMessages:   cfg.RealtimeSyncMaxMessages,
		TypingInterval:    cfg.RealtimeTypingInterval,
		Revocations:       revocations,
		RedisReconnectMin: cfg.RealtimeRedisReconnectMin,
		RedisReconnectMax: cfg.RealtimeRedisReconnectMax,
		UpstreamCalls:     cfg.RealtimeUpstreamCalls,
		UpstreamInterval:  cfg.RealtimeUpstreamInterval,
		Telemetry:         tel,
	})
	if err != nil {
		return nil, fmt.Errorf("realtime: %w", err)
	}
	return hub, nil
}

// newFanout builds the consumer that fans events out to the WebSocket clients, nil when no Kafka
// brokers are configured.
func newFanout(ctx context.Context, logger *slog.Logger, cfg Config, redis func() rueidis.Client, revocations *sessions.Revocations, tel *telemetry.Telemetry) (*events.Consumer, error) {
	if len(cfg.KafkaBrokers) == 0 {
		logger.WarnContext(ctx, "KAFKA_BROKERS is empty: no events reach WebSocket clients (typing and presence still work)")
		return nil, nil
	}
	kafkaOpts, err := kafkaconn.Options(cfg.Kafka)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	consumer, err := events.NewConsumer(events.ConsumerConfig{
		Brokers: cfg.KafkaBrokers, ClientOpts: kafkaOpts, Group: cfg.RealtimeGroup, Topics: fanout.Topics, Logger: logger, Telemetry: tel,
	})
	if err != nil {
		return nil, fmt.Errorf("realtime consumer: %w", err)
	}
	err = fanout.Register(consumer, fanout.Options{
		Logger: logger, Redis: redis, Revocations: revocations, MaxEventAge: cfg.RealtimeMaxEventAge, Telemetry: tel,
	})
	if err != nil {
		return nil, err
	}
	return consumer, nil
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
		up, err := gateway.NewUpstream(u.name, u.url)
		if err != nil {
			return nil, err
		}
		ups = append(ups, up)
	}
	return ups, nil
}

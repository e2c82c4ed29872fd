package main

import (
	"errors"
	"time"

	"github.com/parleyhq/parley/platform/config"
	"github.com/parleyhq/parley/services/gateway/internal/gateway"
)

// Config is the gateway's whole configuration, from the environment (docs/gateway.md lists it).
type Config struct {
	config.Common

	ListenAddr string `env:"LISTEN_ADDR" envDefault:":8080"`

	config.AuthPeer         // AUTH_URL
	config.ProfilePeer      // PROFILE_URL
	config.FriendPeer       // FRIEND_URL
	config.ChatPeer         // CHAT_URL
	config.NotificationPeer // NOTIFICATION_URL
	config.MediaPeer        // MEDIA_URL

	config.AuthJWKS // AUTH_JWKS_URL
	// PublicProcedures need no access token (comma-separated full procedure names). Unset or empty:
	// the procedures marked ACCESS_PUBLIC in the protos (contracts/access; run fills them in, as env
	// leaves an empty variable's list nil); PUBLIC_PROCEDURES=, : none.
	PublicProcedures []string `env:"PUBLIC_PROCEDURES"`

	// InternalProcedures are service-to-service only and never routed (NotFound). Unset or empty:
	// the procedures marked internal in the protos (contracts/access); INTERNAL_PROCEDURES=, : none.
	InternalProcedures []string `env:"INTERNAL_PROCEDURES"`

	CORSAllowedOrigins []string      `env:"CORS_ALLOWED_ORIGINS" envDefault:"http://localhost:8080,http://127.0.0.1:8080"`
	CORSMaxAge         time.Duration `env:"CORS_MAX_AGE" envDefault:"2h"`
	MaxBodyBytes       int64         `env:"MAX_BODY_BYTES" envDefault:"4194304"`
	TrustedProxies     []string      `env:"TRUSTED_PROXIES"`
	// RefreshCookieSecure sets Secure on the refresh-token cookie; false only for a browser on
	// plain http (the dev stack). Not judged from the request: a proxy may rewrite its Host.
	RefreshCookieSecure bool `env:"REFRESH_COOKIE_SECURE" envDefault:"true"`

	config.Redis // REDIS_URL
	// RateLimitAuthProcedures are limited per client IP to RateLimitAuth per RateLimitWindow. Unset
	// or empty: the procedures marked RATE_LIMIT_AUTH in the protos (contracts/access);
	// RATE_LIMIT_AUTH_PROCEDURES=, : none.
	RateLimitAuthProcedures []string      `env:"RATE_LIMIT_AUTH_PROCEDURES"`
	RateLimitAuth           int           `env:"RATE_LIMIT_AUTH" envDefault:"20"`
	RateLimitUser           int           `env:"RATE_LIMIT_USER" envDefault:"600"`
	RateLimitWindow         time.Duration `env:"RATE_LIMIT_WINDOW" envDefault:"1m"`

	// WebDir is the built web app served at / (empty: none). Its Content-Security-Policy also
	// allows the S3 endpoint browsers post uploads to and the origin of media's links: the same
	// variables, with the same defaults, as the media service's (webSources).
	WebDir             string `env:"WEB_DIR"`
	config.S3Endpoints        // S3_ENDPOINT, S3_PUBLIC_ENDPOINT
	config.MediaPublic        // MEDIA_PUBLIC_URL

	// Realtime (WebSocket at /ws); docs/realtime.md explains each. KAFKA_BROKERS (config.Common)
	// feeds its fan-out; no broker (KAFKA_BROKERS=, since an unset or empty variable takes the
	// default) turns the fan-out off (typing and presence still work).
	RealtimeGroup             string        `env:"REALTIME_GROUP" envDefault:"gateway-realtime"`
	RealtimeMaxConnsPerUser   int           `env:"REALTIME_MAX_CONNS_PER_USER" envDefault:"10"`
	RealtimeSendBuffer        int           `env:"REALTIME_SEND_BUFFER" envDefault:"256"`
	RealtimeMaxFrameBytes     int64         `env:"REALTIME_MAX_FRAME_BYTES" envDefault:"65536"`
	RealtimeAuthTimeout       time.Duration `env:"REALTIME_AUTH_TIMEOUT" envDefault:"5s"`
	RealtimePingInterval      time.Duration `env:"REALTIME_PING_INTERVAL" envDefault:"30s"`
	RealtimePingTimeout       time.Duration `env:"REALTIME_PING_TIMEOUT" envDefault:"15s"`
	RealtimeWriteTimeout      time.Duration `env:"REALTIME_WRITE_TIMEOUT" envDefault:"10s"`
	RealtimePresenceInterval  time.Duration `env:"REALTIME_PRESENCE_INTERVAL" envDefault:"30s"`
	RealtimeSyncMaxChats      int           `env:"REALTIME_SYNC_MAX_CHATS" envDefault:"100"`
	RealtimeSyncMaxMessages   int           `env:"REALTIME_SYNC_MAX_MESSAGES" envDefault:"200"`
	RealtimeTypingInterval    time.Duration `env:"REALTIME_TYPING_INTERVAL" envDefault:"2s"`
	RealtimeRevokedSessionTTL time.Duration `env:"REALTIME_REVOKED_SESSION_TTL" envDefault:"1h"`
	RealtimeMaxEventAge       time.Duration `env:"REALTIME_MAX_EVENT_AGE" envDefault:"2m"`
	// Redis resilience: the revoked-session check's bound on every API call, and the back-off of
	// the hub's Redis reconnection (docs/realtime.md).
	RealtimeRevocationCheckTimeout time.Duration `env:"REALTIME_REVOCATION_CHECK_TIMEOUT" envDefault:"150ms"`
	RealtimeRedisReconnectMin      time.Duration `env:"REALTIME_REDIS_RECONNECT_MIN" envDefault:"100ms"`
	RealtimeRedisReconnectMax      time.Duration `env:"REALTIME_REDIS_RECONNECT_MAX" envDefault:"10s"`
	// RealtimeUpstreamCalls per RealtimeUpstreamInterval bound the chat/friend calls one user's
	// WebSocket frames cause on one gateway.
	RealtimeUpstreamCalls    int           `env:"REALTIME_UPSTREAM_CALLS" envDefault:"300"`
	RealtimeUpstreamInterval time.Duration `env:"REALTIME_UPSTREAM_INTERVAL" envDefault:"1m"`

	ReadHeaderTimeout time.Duration `env:"READ_HEADER_TIMEOUT" envDefault:"10s"`
	IdleTimeout       time.Duration `env:"IDLE_TIMEOUT" envDefault:"2m"`
	ShutdownTimeout   time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s"`
	ReadyTimeout      time.Duration `env:"READY_TIMEOUT" envDefault:"2s"`
	ReadyCacheTTL     time.Duration `env:"READY_CACHE_TTL" envDefault:"1s"`
	// ReadyzToken, when set, gets the detailed readiness report from the public /readyz.
	ReadyzToken string `env:"READYZ_TOKEN" secret:"true"`
}

// validate refuses values that parse but cannot work, naming each variable. A zero limit or
// duration means the documented default (internal/gateway and internal/realtime fill it in), so
// only negative ones are refused here; upstream URLs and trusted proxies are checked where they
// are parsed (in run); the web app's directory and origins as gateway.New would check them. An
// KAFKA_BROKERS without a broker (KAFKA_BROKERS=,) is allowed: it turns the realtime fan-out off.
func (c Config) validate() error {
	errs := config.NotNegative(map[string]int64{
		"MAX_BODY_BYTES": c.MaxBodyBytes, "RATE_LIMIT_AUTH": int64(c.RateLimitAuth), "RATE_LIMIT_USER": int64(c.RateLimitUser),
	})
	errs = append(errs, config.NotNegative(map[string]time.Duration{
		"RATE_LIMIT_WINDOW": c.RateLimitWindow, "READY_TIMEOUT": c.ReadyTimeout, "SHUTDOWN_TIMEOUT": c.ShutdownTimeout,
	})...)
	errs = append(errs, gateway.CheckWeb(c.WebDir, c.webSources()), c.Check())
	return errors.Join(errs...)
}

// webSources are the origins the web app reaches besides the gateway: S3 where media's upload
// forms point (S3_PUBLIC_ENDPOINT, else S3_ENDPOINT, as media decides) and media's links.
func (c Config) webSources() gateway.WebSources {
	return gateway.WebSources{S3PublicEndpoint: c.BrowserS3Endpoint(), S3Variable: c.BrowserS3Variable(), MediaPublicURL: c.MediaPublicURL}
}

package main

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/platform/config"
)

// Config is the chat service's whole configuration, read from the environment.
type Config struct {
	config.Common

	ListenAddr   string        `env:"LISTEN_ADDR" envDefault:":8084"`
	DatabaseURL  string        `env:"DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/parley_chat?sslmode=disable"`
	DatabaseWait time.Duration `env:"DATABASE_WAIT" envDefault:"30s"`
	// DatabaseMaxConns caps the pool. Sends are written in groups, at most two at a time
	// (chatdb's group commit); reads and event handlers use the rest.
	DatabaseMaxConns int32 `env:"DATABASE_MAX_CONNS" envDefault:"16"`
	// OutboxPollInterval is how often the outbox relay looks for new events without a wake-up: a
	// commit in this process wakes it at once (run.go), so polling only picks up what another
	// replica committed while its own relay could not take the relay lock.
	OutboxPollInterval time.Duration `env:"OUTBOX_POLL_INTERVAL" envDefault:"250ms"`
	// OutboxLinger is the least time between two relay passes under load, so that one pass
	// publishes many messages (events.RelayConfig.Linger).
	OutboxLinger time.Duration `env:"OUTBOX_LINGER" envDefault:"5ms"`
	RedisURL     string        `env:"REDIS_URL" envDefault:"redis://127.0.0.1:6379"`
	FriendURL    string        `env:"FRIEND_URL" envDefault:"http://127.0.0.1:8083"`
	// FriendTimeout bounds one CheckFriendship call.
	FriendTimeout time.Duration `env:"FRIEND_TIMEOUT" envDefault:"2s"`
	// FriendshipCacheTTL bounds how long a CheckFriendship answer is kept in Redis.
	FriendshipCacheTTL time.Duration `env:"FRIENDSHIP_CACHE_TTL" envDefault:"30s"`
	// MediaURL is the media service: BatchGetFiles checks attachments being sent and gives the
	// URLs of attachments being read.
	MediaURL string `env:"MEDIA_URL" envDefault:"http://127.0.0.1:8086"`
	// MediaTimeout bounds one BatchGetFiles call.
	MediaTimeout time.Duration `env:"MEDIA_TIMEOUT" envDefault:"2s"`
	// InternalAPIToken is the shared secret of calls between Parley services. Chat's calls to the
	// media service are all made for a user (their token forwarded, so media's access rules apply);
	// it is sent only on a call made for no user.
	InternalAPIToken string `env:"INTERNAL_API_TOKEN" secret:"true"`
	AuthJWKSURL      string `env:"AUTH_JWKS_URL" envDefault:"http://127.0.0.1:8081/.well-known/jwks.json"`
}

// withMaxConns returns the database URL with pool_max_conns set to n (pgxpool reads it from the
// URL), unless the URL sets it itself or n <= 0.
func withMaxConns(dbURL string, n int32) (string, error) {
	if n <= 0 || strings.Contains(dbURL, "pool_max_conns") {
		return dbURL, nil
	}
	if strings.HasPrefix(dbURL, "postgres://") || strings.HasPrefix(dbURL, "postgresql://") {
		u, err := url.Parse(dbURL)
		if err != nil {
			return "", fmt.Errorf("DATABASE_URL: %w", err)
		}
		q := u.Query()
		q.Set("pool_max_conns", strconv.Itoa(int(n)))
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dbURL + " pool_max_conns=" + strconv.Itoa(int(n)), nil
}

// validate refuses values that parse but cannot work, naming each variable. Zero durations fall
// back to their documented defaults where they are used; negative ones are refused here.
func (c Config) validate() error {
	var errs []error
	if len(c.KafkaBrokers) == 0 {
		errs = append(errs, errors.New("KAFKA_BROKERS: at least one broker address is required"))
	}
	if c.DatabaseMaxConns <= 0 {
		errs = append(errs, fmt.Errorf("DATABASE_MAX_CONNS %d: must be positive", c.DatabaseMaxConns))
	}
	for name, d := range map[string]time.Duration{
		"OUTBOX_POLL_INTERVAL": c.OutboxPollInterval, "OUTBOX_LINGER": c.OutboxLinger, "FRIEND_TIMEOUT": c.FriendTimeout,
		"FRIENDSHIP_CACHE_TTL": c.FriendshipCacheTTL, "MEDIA_TIMEOUT": c.MediaTimeout,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %v: must not be negative", name, d))
		}
	}
	return errors.Join(errs...)
}

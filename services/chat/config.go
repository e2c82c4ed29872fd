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
	config.Service // LISTEN_ADDR, DATABASE_URL, DATABASE_WAIT, SHUTDOWN_TIMEOUT

	// DatabaseMaxConns caps the pool. Sends are written in groups, at most two at a time
	// (chatdb's group commit); reads and event handlers use the rest.
	DatabaseMaxConns int32 `env:"DATABASE_MAX_CONNS" envDefault:"16"`
	// OutboxPollInterval is how often the outbox relay looks for new events without a wake-up: a
	// commit in this process wakes it at once (run.go), so polling only picks up what another
	// replica committed while its own relay could not take the relay lock.
	OutboxPollInterval time.Duration `env:"OUTBOX_POLL_INTERVAL" envDefault:"250ms"`
	// OutboxLinger is the least time between two relay passes under load, so that one pass
	// publishes many messages (events.RelayConfig.Linger); 0: none, a wake-up starts a pass at once.
	OutboxLinger time.Duration `env:"OUTBOX_LINGER" envDefault:"5ms"`

	config.Redis      // REDIS_URL
	config.FriendPeer // FRIEND_URL
	// FriendTimeout bounds one CheckFriendship call.
	FriendTimeout time.Duration `env:"FRIEND_TIMEOUT" envDefault:"2s"`
	// FriendshipCacheTTL bounds how long a CheckFriendship answer is kept in Redis.
	FriendshipCacheTTL time.Duration `env:"FRIENDSHIP_CACHE_TTL" envDefault:"30s"`
	// MEDIA_URL is the media service: BatchGetFiles checks attachments being sent and gives the
	// URLs of attachments being read.
	config.MediaPeer
	// MediaTimeout bounds one BatchGetFiles call.
	MediaTimeout time.Duration `env:"MEDIA_TIMEOUT" envDefault:"2s"`
	// INTERNAL_API_TOKEN: chat's calls to the media service are all made for a user (their token
	// forwarded, so media's access rules apply); it is sent only on a call made for no user.
	config.InternalAPI
	config.AuthJWKS // AUTH_JWKS_URL
}

// defaults is where this service's LISTEN_ADDR and DATABASE_URL defaults come from (config.Start).
var defaults = Config{Service: config.ServiceDefaults("chat", 8084)}

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

// validate refuses values that parse but cannot work, naming each variable. A zero timeout or TTL
// falls back to its documented default where it is used, and a zero OUTBOX_LINGER means none;
// negative ones are refused here, and so is a poll interval that is not positive.
func (c Config) validate() error {
	errs := config.Positive(map[string]int32{"DATABASE_MAX_CONNS": c.DatabaseMaxConns})
	errs = append(errs, config.Positive(map[string]time.Duration{"OUTBOX_POLL_INTERVAL": c.OutboxPollInterval})...)
	errs = append(errs, config.NotNegative(map[string]time.Duration{
		"OUTBOX_LINGER": c.OutboxLinger, "FRIEND_TIMEOUT": c.FriendTimeout,
		"FRIENDSHIP_CACHE_TTL": c.FriendshipCacheTTL, "MEDIA_TIMEOUT": c.MediaTimeout,
	})...)
	return errors.Join(errs...)
}

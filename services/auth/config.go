package main

import (
	"runtime"
	"time"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

// Config is the auth service's whole configuration, read from the environment. docs/auth.md
// describes every variable.
type Config struct {
	ListenAddr   string        `env:"LISTEN_ADDR" envDefault:":8081"`
	DatabaseURL  string        `env:"DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/parley_auth?sslmode=disable"`
	DatabaseWait time.Duration `env:"DATABASE_WAIT" envDefault:"30s"`
	KafkaBrokers []string      `env:"KAFKA_BROKERS" envDefault:"127.0.0.1:9092" envSeparator:","`
	LogFormat    string        `env:"LOG_FORMAT" envDefault:"text"`
	LogLevel     string        `env:"LOG_LEVEL" envDefault:"info"`

	JWTIssuer       string        `env:"JWT_ISSUER" envDefault:"parley"`
	JWTAudience     string        `env:"JWT_AUDIENCE" envDefault:"parley"`
	AccessTokenTTL  time.Duration `env:"ACCESS_TOKEN_TTL" envDefault:"15m"`
	RefreshTokenTTL time.Duration `env:"REFRESH_TOKEN_TTL" envDefault:"720h"`

	// SigningKeyFile holds the private JWK access tokens are signed with.
	SigningKeyFile string `env:"AUTH_SIGNING_KEY_FILE"`
	// GenerateSigningKey creates SigningKeyFile (Ed25519, mode 0600) when it does not exist.
	GenerateSigningKey bool `env:"AUTH_GENERATE_SIGNING_KEY" envDefault:"false"`
	// PreviousPublicKeysFile is a JWKS of retired signing keys' public halves, still published so
	// tokens they signed stay valid until they expire.
	PreviousPublicKeysFile string        `env:"AUTH_PREVIOUS_PUBLIC_KEYS_FILE"`
	JWKSMaxAge             time.Duration `env:"AUTH_JWKS_MAX_AGE" envDefault:"5m"`

	Argon2MemoryKiB uint32 `env:"AUTH_ARGON2_MEMORY_KIB" envDefault:"32768"`
	Argon2Time      uint32 `env:"AUTH_ARGON2_TIME" envDefault:"2"`
	Argon2Threads   uint8  `env:"AUTH_ARGON2_THREADS" envDefault:"1"`
	// PasswordHashConcurrency bounds the hashes computed at once (0: one per CPU); each holds
	// Argon2MemoryKiB of memory.
	PasswordHashConcurrency int `env:"AUTH_PASSWORD_HASH_CONCURRENCY" envDefault:"0"`
	// PasswordHashQueueTimeout is how long a request may wait for a hashing slot before it gets
	// ResourceExhausted.
	PasswordHashQueueTimeout time.Duration `env:"AUTH_PASSWORD_HASH_QUEUE_TIMEOUT" envDefault:"5s"`

	// SessionCleanupInterval is how often expired sessions and their refresh tokens are deleted.
	SessionCleanupInterval time.Duration `env:"AUTH_SESSION_CLEANUP_INTERVAL" envDefault:"1h"`
	ShutdownTimeout        time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s"`
}

func (c Config) argon2Params() auth.Argon2Params {
	return auth.Argon2Params{MemoryKiB: c.Argon2MemoryKiB, Time: c.Argon2Time, Threads: c.Argon2Threads}
}

func (c Config) hashConcurrency() int {
	if c.PasswordHashConcurrency > 0 {
		return c.PasswordHashConcurrency
	}
	return runtime.GOMAXPROCS(0)
}

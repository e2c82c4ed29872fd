package main

import (
	"errors"
	"fmt"
	"time"
)

// Config is the friend service's whole configuration, read from the environment.
type Config struct {
	ListenAddr   string        `env:"LISTEN_ADDR" envDefault:":8083"`
	AdminAddr    string        `env:"ADMIN_ADDR"` // /debug/pprof/ for operators; empty = off; never the public port
	DatabaseURL  string        `env:"DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/parley_friend?sslmode=disable"`
	DatabaseWait time.Duration `env:"DATABASE_WAIT" envDefault:"30s"`
	KafkaBrokers []string      `env:"KAFKA_BROKERS" envDefault:"127.0.0.1:9092" envSeparator:","`
	AuthJWKSURL  string        `env:"AUTH_JWKS_URL" envDefault:"http://127.0.0.1:8081/.well-known/jwks.json"`
	JWTIssuer    string        `env:"JWT_ISSUER" envDefault:"parley"`
	JWTAudience  string        `env:"JWT_AUDIENCE" envDefault:"parley"`
	// RequestLimit new friend requests per RequestWindow per sender; 0 turns the limit off.
	RequestLimit  int           `env:"FRIEND_REQUEST_LIMIT" envDefault:"50"`
	RequestWindow time.Duration `env:"FRIEND_REQUEST_WINDOW" envDefault:"1h"`
	LogFormat     string        `env:"LOG_FORMAT" envDefault:"text"`
	LogLevel      string        `env:"LOG_LEVEL" envDefault:"info"`
}

// validate reports values that parse but cannot work.
func (c Config) validate() error {
	var errs []error
	if c.RequestLimit < 0 {
		errs = append(errs, fmt.Errorf("FRIEND_REQUEST_LIMIT %d: must be 0 (no limit) or more", c.RequestLimit))
	}
	if c.RequestWindow <= 0 {
		errs = append(errs, fmt.Errorf("FRIEND_REQUEST_WINDOW %v: must be positive", c.RequestWindow))
	}
	if len(c.KafkaBrokers) == 0 {
		errs = append(errs, errors.New("KAFKA_BROKERS: at least one broker address is required"))
	}
	return errors.Join(errs...)
}

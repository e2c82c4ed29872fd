package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/platform/config"
)

// Config is the friend service's whole configuration, read from the environment.
type Config struct {
	config.Common

	ListenAddr   string        `env:"LISTEN_ADDR" envDefault:":8083"`
	DatabaseURL  string        `env:"DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/parley_friend?sslmode=disable"`
	DatabaseWait time.Duration `env:"DATABASE_WAIT" envDefault:"30s"`
	AuthJWKSURL  string        `env:"AUTH_JWKS_URL" envDefault:"http://127.0.0.1:8081/.well-known/jwks.json"`
	// RequestLimit new friend requests per RequestWindow per sender; 0 turns the limit off.
	RequestLimit  int           `env:"FRIEND_REQUEST_LIMIT" envDefault:"50"`
	RequestWindow time.Duration `env:"FRIEND_REQUEST_WINDOW" envDefault:"1h"`
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

package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/platform/config"
)

// Config is the profile service's whole configuration, read from the environment.
type Config struct {
	config.Common

	ListenAddr   string        `env:"LISTEN_ADDR" envDefault:":8082"`
	DatabaseURL  string        `env:"DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/parley_profile?sslmode=disable"`
	DatabaseWait time.Duration `env:"DATABASE_WAIT" envDefault:"30s"`
	RedisURL     string        `env:"REDIS_URL" envDefault:"redis://127.0.0.1:6379"`
	MediaURL     string        `env:"MEDIA_URL" envDefault:"http://127.0.0.1:8086"`
	AuthJWKSURL  string        `env:"AUTH_JWKS_URL" envDefault:"http://127.0.0.1:8081/.well-known/jwks.json"`
	// CacheTTL bounds how long a profile stays in Redis (and in each process's client-side cache).
	CacheTTL time.Duration `env:"PROFILE_CACHE_TTL" envDefault:"10m"`
	// SearchFuzzyThreshold is the least trigram similarity of a fuzzy search match.
	SearchFuzzyThreshold float64 `env:"SEARCH_FUZZY_THRESHOLD" envDefault:"0.2"`
}

// validate refuses values that parse but cannot work, naming each variable.
func (c Config) validate() error {
	var errs []error
	if len(c.KafkaBrokers) == 0 {
		errs = append(errs, errors.New("KAFKA_BROKERS: at least one broker address is required"))
	}
	if c.CacheTTL < 0 {
		errs = append(errs, fmt.Errorf("PROFILE_CACHE_TTL %v: must not be negative", c.CacheTTL))
	}
	if c.SearchFuzzyThreshold < 0 || c.SearchFuzzyThreshold > 1 {
		errs = append(errs, fmt.Errorf("SEARCH_FUZZY_THRESHOLD %v: must be a trigram similarity between 0 and 1", c.SearchFuzzyThreshold))
	}
	return errors.Join(errs...)
}

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
	config.Service // LISTEN_ADDR, DATABASE_URL, DATABASE_WAIT, SHUTDOWN_TIMEOUT

	config.Redis     // REDIS_URL
	config.MediaPeer // MEDIA_URL
	config.AuthJWKS  // AUTH_JWKS_URL

	// CacheTTL bounds how long a profile stays in Redis (and in each process's client-side cache).
	CacheTTL time.Duration `env:"PROFILE_CACHE_TTL" envDefault:"10m"`
	// SearchFuzzyThreshold is the least trigram similarity of a fuzzy search match.
	SearchFuzzyThreshold float64 `env:"SEARCH_FUZZY_THRESHOLD" envDefault:"0.2"`
}

// defaults is where this service's LISTEN_ADDR and DATABASE_URL defaults come from (config.Start).
var defaults = Config{Service: config.ServiceDefaults("profile", 8082)}

// validate refuses values that parse but cannot work, naming each variable.
func (c Config) validate() error {
	errs := config.NotNegative(map[string]time.Duration{"PROFILE_CACHE_TTL": c.CacheTTL})
	if c.SearchFuzzyThreshold < 0 || c.SearchFuzzyThreshold > 1 {
		errs = append(errs, fmt.Errorf("SEARCH_FUZZY_THRESHOLD %v: must be a trigram similarity between 0 and 1", c.SearchFuzzyThreshold))
	}
	return errors.Join(errs...)
}

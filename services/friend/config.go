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
	config.Service // LISTEN_ADDR, DATABASE_URL, DATABASE_WAIT, SHUTDOWN_TIMEOUT

	config.AuthJWKS // AUTH_JWKS_URL

	// RequestLimit new friend requests per RequestWindow per sender; 0 turns the limit off.
	RequestLimit  int           `env:"FRIEND_REQUEST_LIMIT" envDefault:"50"`
	RequestWindow time.Duration `env:"FRIEND_REQUEST_WINDOW" envDefault:"1h"`
}

// defaults is where this service's LISTEN_ADDR and DATABASE_URL defaults come from (config.Start).
var defaults = Config{Service: config.ServiceDefaults("friend", 8083)}

// validate reports values that parse but cannot work.
func (c Config) validate() error {
	var errs []error
	if c.RequestLimit < 0 {
		errs = append(errs, fmt.Errorf("FRIEND_REQUEST_LIMIT %d: must be 0 (no limit) or more", c.RequestLimit))
	}
	errs = append(errs, config.Positive(map[string]time.Duration{"FRIEND_REQUEST_WINDOW": c.RequestWindow})...)
	return errors.Join(errs...)
}

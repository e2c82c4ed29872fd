package main

import (
	"context"
	"testing"

	"github.com/parleyhq/parley/platform/configtest"
)

// TestRunRefusesBadConfigBeforeConnecting checks that validate runs in run, right after the
// configuration is loaded and logged, and names the variable (nothing listens on the defaults'
// addresses here, so an error naming the variable can only come from validate).
func TestRunRefusesBadConfigBeforeConnecting(t *testing.T) {
	configtest.RunRefuses(t, badConfig, func() error { return runOn(context.Background(), quietLogger(), nil, nil) })
}

var badConfig = map[string]string{
	"KAFKA_BROKERS":                  ",", // config.Start's check, shared by every service
	"KAFKA_SASL_MECHANISM":           "GSSAPI",
	"REFRESH_TOKEN_TTL":              "0s",
	"AUTH_OAUTH_FLOW_TTL":            "-1m",
	"AUTH_SESSION_CLEANUP_INTERVAL":  "-1h",
	"AUTH_PASSWORD_RESET_TTL":        "0s",
	"AUTH_PASSWORD_RESETS_PER_EMAIL": "0",
	"AUTH_PASSKEY_ORIGINS":           "localhost:8080",
	"AUTH_JWKS_MAX_AGE":              "-5m",
	"AUTH_PASSWORD_HASH_CONCURRENCY": "-1",
}

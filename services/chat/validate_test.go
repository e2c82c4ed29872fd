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
	"KAFKA_BROKERS":        ",", // config.Start's check, shared by every service
	"KAFKA_SASL_MECHANISM": "GSSAPI",
	"DATABASE_MAX_CONNS":   "0",
	"FRIEND_TIMEOUT":       "-1s",
	"OUTBOX_LINGER":        "-5ms",
	"OUTBOX_POLL_INTERVAL": "0s",
}

package main

import (
	"context"
	"strings"
	"testing"
)

// TestRunRefusesBadConfigBeforeConnecting checks that validate runs in run, right after the
// configuration is loaded and logged, and names the variable (nothing listens on the defaults'
// addresses here, so an error naming the variable can only come from validate).
func TestRunRefusesBadConfigBeforeConnecting(t *testing.T) {
	for env, value := range badConfig {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, value)
			err := runOn(context.Background(), quietLogger(), nil, nil)
			if err == nil || !strings.Contains(err.Error(), env) || !strings.HasPrefix(err.Error(), "configuration: ") {
				t.Fatalf("run with %s=%q = %v; want a configuration error naming %s", env, value, err, env)
			}
		})
	}
}

var badConfig = map[string]string{
	"KAFKA_BROKERS":        ",", // config.Start's check, shared by every service
	"KAFKA_SASL_MECHANISM": "GSSAPI",
	"DATABASE_MAX_CONNS":   "0",
	"FRIEND_TIMEOUT":       "-1s",
	"OUTBOX_LINGER":        "-5ms",
}

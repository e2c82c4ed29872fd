package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/parleyhq/parley/platform/configtest"
)

// TestRunRefusesBadConfigBeforeConnecting checks that validate runs in run, right after the
// configuration is loaded and logged, and names the variable (nothing listens on the defaults'
// addresses here, so an error naming the variable can only come from validate).
func TestRunRefusesBadConfigBeforeConnecting(t *testing.T) {
	configtest.RunRefuses(t, badConfig, func() error { return runOn(context.Background(), discardLogger(), nil, nil) })
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var badConfig = map[string]string{
	"KAFKA_BROKERS":          ",", // config.Start's check, shared by every service
	"KAFKA_SASL_MECHANISM":   "GSSAPI",
	"PROFILE_CACHE_TTL":      "-1m",
	"SEARCH_FUZZY_THRESHOLD": "1.5",
}

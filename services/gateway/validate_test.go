package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/parleyhq/parley/platform/configtest"
)

// TestRunRefusesBadConfigBeforeConnecting checks that validate runs in run, right after the
// configuration is loaded and logged, and names the variable (nothing listens on the defaults'
// addresses here, so an error naming the variable can only come from validate).
func TestRunRefusesBadConfigBeforeConnecting(t *testing.T) {
	configtest.RunRefuses(t, badConfig, func() error { return run(context.Background(), discardLogger()) })
}

// With S3_PUBLIC_ENDPOINT unset, S3_ENDPOINT is the one browsers reach, and a bad one is refused
// under its own name.
func TestABadS3EndpointIsRefusedUnderItsName(t *testing.T) {
	t.Setenv("S3_ENDPOINT", "s3.example.com")
	err := run(context.Background(), discardLogger())
	if err == nil || !strings.Contains(err.Error(), `S3_ENDPOINT "s3.example.com": want an http:// or https:// URL`) || strings.Contains(err.Error(), "S3_PUBLIC_ENDPOINT") {
		t.Fatalf("run with S3_ENDPOINT=s3.example.com = %v; want it refused by that name", err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var badConfig = map[string]string{
	"MAX_BODY_BYTES":     "-1",
	"RATE_LIMIT_USER":    "-1",
	"RATE_LIMIT_WINDOW":  "-1m",
	"WEB_DIR":            "/nonexistent/web/dist",
	"S3_PUBLIC_ENDPOINT": "s3.example.com:9000",
	"MEDIA_PUBLIC_URL":   "https://media.example.com;script-src *",
	// Kafka.Check, which config.Start runs for the services; the gateway validates without Start.
	"KAFKA_SASL_MECHANISM": "GSSAPI",
}

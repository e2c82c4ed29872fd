package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/parleyhq/parley/platform/configtest"
	"github.com/parleyhq/parley/services/media/internal/s3test"
)

// TestRunRefusesBadConfigBeforeConnecting checks that validate runs in run, right after the
// configuration is loaded and logged, and names the variable (nothing listens on the defaults'
// addresses here, so an error naming the variable can only come from validate). The S3 keys,
// required, are set, so that each refusal is the bad variable's alone.
func TestRunRefusesBadConfigBeforeConnecting(t *testing.T) {
	t.Setenv("S3_ACCESS_KEY", s3test.AccessKey)
	t.Setenv("S3_SECRET_KEY", s3test.SecretKey)
	configtest.RunRefuses(t, badConfig, func() error { return runOn(context.Background(), discardLogger(), nil, nil) })
}

var badConfig = map[string]string{
	"S3_SECRET_KEY":      "", // with S3_ACCESS_KEY set: both are required
	"MAX_AVATAR_BYTES":   "0",
	"REJECTED_RETENTION": "0s",
}

// TestRunRefusesEveryBadValueAtOnce: an operator learns of every bad value from one start, each
// in its own words.
func TestRunRefusesEveryBadValueAtOnce(t *testing.T) {
	t.Setenv("S3_ACCESS_KEY", s3test.AccessKey)
	t.Setenv("S3_SECRET_KEY", "")
	t.Setenv("MAX_AVATAR_BYTES", "0")
	err := runOn(context.Background(), discardLogger(), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "S3_ACCESS_KEY and S3_SECRET_KEY are required") || !strings.Contains(err.Error(), "MAX_AVATAR_BYTES 0: must be positive") {
		t.Fatalf("run: %v", err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

package main

import (
	"context"
	"strings"
	"testing"

	"github.com/parleyhq/parley/platform/configtest"
)

// TestRunRefusesBadConfigBeforeConnecting checks that validate and parse (startup's Prepare) run
// in run, right after the configuration is loaded and logged, and name the variable. DATABASE_URL
// points at nothing, so an error naming the variable can only come from the checks made before
// connecting.
func TestRunRefusesBadConfigBeforeConnecting(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
	configtest.RunRefuses(t, badConfig, func() error { return runOn(context.Background(), quietLogger(), nil, nil) })
}

var badConfig = map[string]string{
	"DIGEST_DELAY":            "0s",
	"OFFLINE_AFTER":           "-1m",
	"EMAIL_MAX_ATTEMPTS":      "0",
	"PUSH_TTL":                "0s",
	"PUSH_MAX_ATTEMPTS":       "0",
	"PUSH_SUBJECT":            "ops@parley.example",
	"PUSH_GENERATE_VAPID_KEY": "true",
	"CONSUMER_FETCH_WAIT":     "5ms",
	"CLEANUP_INTERVAL":        "-1h",
	// refused by parse
	"EMAIL_FROM":          "not an address",
	"SMTP_URL":            "http://mail.example.com",
	"PUBLIC_WEB_URL":      "localhost:8080",
	"PUSH_VAPID_KEY_FILE": "/nonexistent/vapid-key",
}

// TestRunSaysWhatIsWrongBeforeConnecting checks the words of the refusals: what is wrong, beyond
// the variable's name.
func TestRunSaysWhatIsWrongBeforeConnecting(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
	for _, c := range []struct{ env, value, want string }{
		{"EMAIL_FROM", "not an address", `EMAIL_FROM "not an address": must be an address like`},
		{"SMTP_URL", "http://mail.example.com", "SMTP_URL: "},
		{"PUBLIC_WEB_URL", "localhost:8080", "PUBLIC_WEB_URL: "},
		{"PUSH_VAPID_KEY_FILE", "/nonexistent/vapid-key", "PUSH_VAPID_KEY_FILE: "},
		{"DIGEST_DELAY", "0s", "DIGEST_DELAY 0s: must be positive"},
		{"OFFLINE_AFTER", "-1m", "OFFLINE_AFTER -1m0s: must be positive"},
		{"PUSH_TTL", "0s", "PUSH_TTL must be 1s to 672h"},
		{"PUSH_GENERATE_VAPID_KEY", "true", "PUSH_GENERATE_VAPID_KEY needs PUSH_VAPID_KEY_FILE"},
		{"CONSUMER_FETCH_WAIT", "-1s", "CONSUMER_FETCH_WAIT -1s: must be 0 (no wait) or at least 10ms"},
		{"CLEANUP_INTERVAL", "-1h", "CLEANUP_INTERVAL -1h0m0s: must not be negative"},
	} {
		t.Run(c.env, func(t *testing.T) {
			t.Setenv(c.env, c.value)
			err := runOn(context.Background(), quietLogger(), nil, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("run with %s=%q = %v; want an error saying %q", c.env, c.value, err, c.want)
			}
		})
	}
}

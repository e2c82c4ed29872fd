package config

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

type sample struct {
	Addr     string        `env:"LISTEN_ADDR" envDefault:":9999"`
	DB       string        `env:"DATABASE_URL" envDefault:"postgres://app:hunter2@db:5432/x"`
	Secret   string        `env:"API_TOKEN" secret:"true"`
	Timeout  time.Duration `env:"TIMEOUT" envDefault:"3s"`
	internal string
}

func TestLoadAppliesDefaultsAndEnvironment(t *testing.T) {
	t.Setenv("API_TOKEN", "s3cr3t")
	t.Setenv("TIMEOUT", "5s")
	cfg, err := Load[sample]()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":9999" || cfg.Secret != "s3cr3t" || cfg.Timeout != 5*time.Second {
		t.Fatalf("cfg = %+v", cfg)
	}
}

func TestLoadReportsBadValues(t *testing.T) {
	t.Setenv("TIMEOUT", "soon")
	if _, err := Load[sample](); err == nil {
		t.Fatal("want an error for TIMEOUT=soon")
	}
}

func TestAttrsMaskSecretsAndURLPasswords(t *testing.T) {
	cfg := sample{Addr: ":1", DB: "postgres://app:hunter2@db:5432/x", Secret: "s3cr3t", internal: "x"}
	got := map[string]string{}
	for _, a := range Attrs(cfg) {
		attr := a.(slog.Attr)
		got[attr.Key] = attr.Value.String()
	}
	if got["API_TOKEN"] != "*****" {
		t.Fatalf("secret not masked: %q", got["API_TOKEN"])
	}
	if got["DATABASE_URL"] != "postgres://app:redacted@db:5432/x" {
		t.Fatalf("url password not masked: %q", got["DATABASE_URL"])
	}
	if got["LISTEN_ADDR"] != ":1" || len(got) != 4 {
		t.Fatalf("attrs = %v", got)
	}
}

type withCommon struct {
	Common
	Addr   string `env:"LISTEN_ADDR" envDefault:":9999"`
	Secret string `env:"API_TOKEN" secret:"true"`
}

// Common's fields load from their variables with their defaults, and Attrs lists them where Common
// is embedded, masked like any other field.
func TestCommonIsLoadedAndLoggedInPlace(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "k1:9092,k2:9092")
	t.Setenv("ADMIN_ADDR", "http://ops:hunter2@127.0.0.1:9000")
	t.Setenv("API_TOKEN", "s3cr3t")
	cfg, err := Load[withCommon]()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.KafkaBrokers) != 2 || cfg.JWTIssuer != "parley" || cfg.JWTAudience != "parley" || cfg.LogFormat != "text" ||
		cfg.LogLevel != "info" || cfg.Addr != ":9999" {
		t.Fatalf("cfg = %+v", cfg)
	}
	var got []string
	for _, a := range Attrs(cfg) {
		attr := a.(slog.Attr)
		got = append(got, attr.Key+"="+attr.Value.String())
	}
	want := []string{
		"ADMIN_ADDR=http://ops:redacted@127.0.0.1:9000", "KAFKA_BROKERS=[k1:9092 k2:9092]", "JWT_ISSUER=parley",
		"JWT_AUDIENCE=parley", "LOG_FORMAT=text", "LOG_LEVEL=info", "LISTEN_ADDR=:9999", "API_TOKEN=*****",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("attrs = %q\nwant    %q", got, want)
	}
}

// Start loads, logs the configuration line (masked) before validating, and names the refusal.
func TestStartLogsThenValidates(t *testing.T) {
	t.Setenv("API_TOKEN", "s3cr3t")
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	refuse := func(c sample) error { return errors.New("TIMEOUT " + c.Timeout.String() + ": too short") }

	_, err := Start(logger, refuse)
	if err == nil || err.Error() != "configuration: TIMEOUT 3s: too short" {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(logs.String(), "msg=configuration LISTEN_ADDR=:9999") || !strings.Contains(logs.String(), "API_TOKEN=*****") ||
		strings.Contains(logs.String(), "s3cr3t") {
		t.Fatalf("configuration line = %q", logs.String())
	}

	logs.Reset()
	cfg, err := Start[sample](logger, nil)
	if err != nil || cfg.Secret != "s3cr3t" || !strings.Contains(logs.String(), "msg=configuration") {
		t.Fatalf("no validate: %+v, %v, logs %q", cfg, err, logs.String())
	}

	t.Setenv("TIMEOUT", "soon")
	logs.Reset()
	if _, err := Start(logger, refuse); err == nil || logs.Len() != 0 {
		t.Fatalf("unparsable value: %v, logs %q", err, logs.String())
	}
}

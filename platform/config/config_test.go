package config

import (
	"log/slog"
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

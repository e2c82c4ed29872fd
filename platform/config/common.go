package config

import "strings"

// Common is the variables every Parley process reads, with the same meaning and default in each.
// A service's Config embeds it as its first field, so the fields keep their names (cfg.AdminAddr)
// and environment variables, and Attrs logs them in place. LISTEN_ADDR, DATABASE_URL and
// DATABASE_WAIT are Service's (the gateway has no database and declares its own LISTEN_ADDR);
// AUTH_JWKS_URL, REDIS_URL and the rest of shared.go are embedded one by one by the Configs that
// read them (not every process verifies tokens or uses Redis). The services need KAFKA_BROKERS,
// which Start checks for every Config that embeds Service (checkService); the gateway runs
// without it.
type Common struct {
	// AdminAddr is the operator-only listener (/debug/pprof/; the gateway's /readyz details);
	// empty = off; never the public port.
	AdminAddr    string   `env:"ADMIN_ADDR"`
	KafkaBrokers []string `env:"KAFKA_BROKERS" envDefault:"127.0.0.1:9092" envSeparator:","`
	// JWTIssuer and JWTAudience are the access tokens' iss and aud: auth writes them, every other
	// service checks them.
	JWTIssuer   string `env:"JWT_ISSUER" envDefault:"parley"`
	JWTAudience string `env:"JWT_AUDIENCE" envDefault:"parley"`
	// LogFormat (text|json) and LogLevel are read by server.Main before the configuration is
	// loaded; they are here so the configuration line shows them.
	LogFormat string `env:"LOG_FORMAT" envDefault:"text"`
	LogLevel  string `env:"LOG_LEVEL" envDefault:"info"`
	// OTelEndpoint, when set, turns tracing on and is where spans are sent (OTLP/HTTP). It and
	// the other standard OTEL_* variables are read by telemetry.Start; it is here so the
	// configuration line shows it (docs/telemetry.md).
	OTelEndpoint string `env:"OTEL_EXPORTER_OTLP_ENDPOINT"`
}

// tidyBrokers trims the KAFKA_BROKERS entries and drops the blank ones (load calls it): the
// client takes each entry as written, so "k1:9092, k2:9092" would name the host " k2" and a blank
// entry would dial :9092 on this host. KAFKA_BROKERS="," is thus an empty list (no broker).
func (c *Common) tidyBrokers() {
	brokers := c.KafkaBrokers[:0]
	for _, b := range c.KafkaBrokers {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	c.KafkaBrokers = brokers
}

package config

// Common is the variables every Parley process reads, with the same meaning and default in each.
// A service's Config embeds it as its first field, so the fields keep their names (cfg.AdminAddr)
// and environment variables, and Attrs logs them in place. LISTEN_ADDR, DATABASE_URL,
// DATABASE_WAIT and SHUTDOWN_TIMEOUT are Service's (the gateway has no database and declares its
// own LISTEN_ADDR and SHUTDOWN_TIMEOUT); AUTH_JWKS_URL, REDIS_URL and the rest of shared.go are
// embedded one by one by the Configs that read them (not every process verifies tokens or uses
// Redis). The services need KAFKA_BROKERS,
// which Start checks for every Config that embeds Service (checkService); the gateway runs
// without it. Start checks the Kafka TLS and SASL variables (Kafka.Check) for every Config.
type Common struct {
	// AdminAddr is the operator-only listener (/debug/pprof/; the gateway's /readyz details);
	// empty = off; never the public port.
	AdminAddr string `env:"ADMIN_ADDR"`
	// Kafka is KAFKA_BROKERS and how to reach them (TLS, SASL): kafka.go.
	Kafka
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

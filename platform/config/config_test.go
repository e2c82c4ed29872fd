package config

import (
	"errors"
	"io"
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

// LoadFrom reads the given entries alone, not the process's environment.
func TestLoadFromReadsTheGivenEnvironment(t *testing.T) {
	t.Setenv("KAFKA_TLS", "true")
	k, err := LoadFrom[Kafka]([]string{"KAFKA_BROKERS=k1:9092, k2:9092", "KAFKA_SASL_MECHANISM=PLAIN", "KAFKA_SASL_PASSWORD=a=b"})
	if err != nil {
		t.Fatal(err)
	}
	if k.KafkaTLS || k.KafkaSASLMechanism != "PLAIN" || k.KafkaSASLPassword != "a=b" || !slices.Equal(k.KafkaBrokers, []string{"k1:9092", "k2:9092"}) {
		t.Fatalf("LoadFrom = %+v", k)
	}
	if _, err := LoadFrom[Kafka]([]string{"KAFKA_TLS=maybe"}); err == nil {
		t.Fatalf("KAFKA_TLS=maybe: %v", err)
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
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://tenant:apikey@collector.example:4318")
	t.Setenv("API_TOKEN", "s3cr3t")
	t.Setenv("KAFKA_TLS", "true")
	t.Setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
	t.Setenv("KAFKA_SASL_USERNAME", "chat")
	t.Setenv("KAFKA_SASL_PASSWORD", "kafka-s3cr3t")
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
		"ADMIN_ADDR=http://ops:redacted@127.0.0.1:9000", "KAFKA_BROKERS=[k1:9092 k2:9092]", "KAFKA_TLS=true",
		"KAFKA_TLS_CA_FILE=", "KAFKA_TLS_SERVER_NAME=", "KAFKA_SASL_MECHANISM=SCRAM-SHA-512", "KAFKA_SASL_USERNAME=chat",
		"KAFKA_SASL_PASSWORD=*****", "KAFKA_SASL_PASSWORD_FILE=", "KAFKA_SASL_ALLOW_PLAINTEXT=false", "JWT_ISSUER=parley",
		"JWT_AUDIENCE=parley", "LOG_FORMAT=text", "LOG_LEVEL=info",
		"OTEL_EXPORTER_OTLP_ENDPOINT=https://tenant:redacted@collector.example:4318", "LISTEN_ADDR=:9999", "API_TOKEN=*****",
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

	_, err := Start(logger, sample{}, refuse)
	if err == nil || err.Error() != "configuration: TIMEOUT 3s: too short" {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(logs.String(), "msg=configuration LISTEN_ADDR=:9999") || !strings.Contains(logs.String(), "API_TOKEN=*****") ||
		strings.Contains(logs.String(), "s3cr3t") {
		t.Fatalf("configuration line = %q", logs.String())
	}

	logs.Reset()
	cfg, err := Start(logger, sample{}, nil)
	if err != nil || cfg.Secret != "s3cr3t" || !strings.Contains(logs.String(), "msg=configuration") {
		t.Fatalf("no validate: %+v, %v, logs %q", cfg, err, logs.String())
	}

	t.Setenv("TIMEOUT", "soon")
	logs.Reset()
	if _, err := Start(logger, sample{}, refuse); err == nil || logs.Len() != 0 {
		t.Fatalf("unparsable value: %v, logs %q", err, logs.String())
	}
}

type withService struct {
	Common
	Service
	Timeout time.Duration `env:"TIMEOUT" envDefault:"3s"`
}

// Start begins from the defaults value: a variable unset or empty takes the default given there,
// one set wins, and the tags' defaults still apply. Service's variables are logged in place.
func TestStartBeginsFromServiceDefaults(t *testing.T) {
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	defaults := withService{Service: ServiceDefaults("friend", 8083)}
	t.Setenv("DATABASE_URL", "")

	cfg, err := Start(logger, defaults, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Service{ListenAddr: ":8083", DatabaseURL: "postgres://postgres@127.0.0.1:5432/parley_friend?sslmode=disable", DatabaseWait: 30 * time.Second, ShutdownTimeout: 10 * time.Second}
	if cfg.Service != want || cfg.Timeout != 3*time.Second || cfg.JWTIssuer != "parley" {
		t.Fatalf("cfg = %+v", cfg)
	}
	if !strings.Contains(logs.String(), "LOG_LEVEL=info OTEL_EXPORTER_OTLP_ENDPOINT=\"\" LISTEN_ADDR=:8083 DATABASE_URL=\"postgres://postgres@127.0.0.1:5432/parley_friend?sslmode=disable\" DATABASE_WAIT=30s SHUTDOWN_TIMEOUT=10s TIMEOUT=3s") {
		t.Fatalf("configuration line = %q", logs.String())
	}

	t.Setenv("LISTEN_ADDR", "127.0.0.1:1")
	t.Setenv("DATABASE_URL", "postgres://app:hunter2@db:5432/x")
	t.Setenv("DATABASE_WAIT", "2s")
	logs.Reset()
	cfg, err = Start(logger, defaults, nil)
	if err != nil {
		t.Fatal(err)
	}
	want = Service{ListenAddr: "127.0.0.1:1", DatabaseURL: "postgres://app:hunter2@db:5432/x", DatabaseWait: 2 * time.Second, ShutdownTimeout: 10 * time.Second}
	if cfg.Service != want {
		t.Fatalf("cfg.Service = %+v", cfg.Service)
	}
	if !strings.Contains(logs.String(), "DATABASE_URL=postgres://app:redacted@db:5432/x") {
		t.Fatalf("configuration line = %q", logs.String())
	}
	if defaults.ListenAddr != ":8083" {
		t.Fatalf("Start changed the defaults value: %+v", defaults)
	}
}

// Start checks the shared variables of a Config that embeds Service before the service's own
// validate, and joins the two refusals: a service needs a Kafka broker, which an empty variable
// cannot remove (it takes the default) but a list of blanks can.
func TestStartRefusesAServiceWithoutKafka(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	refuse := func(withService) error { return errors.New("TIMEOUT: too short") }
	for _, brokers := range []string{",", " ", " , "} {
		t.Setenv("KAFKA_BROKERS", brokers)
		_, err := Start(logger, withService{}, refuse)
		if err == nil || err.Error() != "configuration: KAFKA_BROKERS: at least one broker address is required\nTIMEOUT: too short" {
			t.Fatalf("KAFKA_BROKERS=%q: err = %v", brokers, err)
		}
		if _, err := Start(logger, withService{}, func(withService) error { return nil }); err == nil ||
			err.Error() != "configuration: KAFKA_BROKERS: at least one broker address is required" {
			t.Fatalf("KAFKA_BROKERS=%q, nothing else wrong: err = %v", brokers, err)
		}
		// nil validates nothing (media migrate), and a Config without Service (the gateway's) may
		// run without Kafka.
		if _, err := Start(logger, withService{}, nil); err != nil {
			t.Fatalf("KAFKA_BROKERS=%q, no validate: %v", brokers, err)
		}
		if _, err := Start(logger, withCommon{}, func(withCommon) error { return nil }); err != nil {
			t.Fatalf("KAFKA_BROKERS=%q without Service: %v", brokers, err)
		}
	}
	t.Setenv("KAFKA_BROKERS", "k1:9092, ,")
	if _, err := Start(logger, withService{}, func(withService) error { return nil }); err != nil {
		t.Fatalf("one broker among blanks: %v", err)
	}
	// The client takes each entry as written: blanks would dial :9092 here, " k2:9092" a host " k2".
	t.Setenv("KAFKA_BROKERS", " k1:9092, ,k2:9092 ,")
	if cfg, err := Start(logger, withService{}, func(withService) error { return nil }); err != nil || !slices.Equal(cfg.KafkaBrokers, []string{"k1:9092", "k2:9092"}) {
		t.Fatalf("brokers with blanks and spaces: %q, %v; want [k1:9092 k2:9092]", cfg.KafkaBrokers, err)
	}
	// Without Service (the gateway) "," is no broker at all: the gateway's fan-out is off.
	t.Setenv("KAFKA_BROKERS", ",")
	if cfg, err := Start(logger, withCommon{}, func(withCommon) error { return nil }); err != nil || len(cfg.KafkaBrokers) != 0 {
		t.Fatalf(`KAFKA_BROKERS="," without Service: %q, %v; want none`, cfg.KafkaBrokers, err)
	}
	t.Setenv("KAFKA_BROKERS", "")
	if cfg, err := Start(logger, withService{}, func(withService) error { return nil }); err != nil || !slices.Equal(cfg.KafkaBrokers, []string{"127.0.0.1:9092"}) {
		t.Fatalf("empty KAFKA_BROKERS: %v, %v", cfg.KafkaBrokers, err)
	}
}

// Start refuses Kafka TLS and SASL variables that contradict each other, in every Config that
// embeds Common (the gateway's and dlq-replay's too), naming each variable at once. The checks
// themselves are Kafka.Check's, tested with kafkaconn.Options.
func TestStartChecksKafkaSecurityForEveryProcess(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-1")
	t.Setenv("KAFKA_TLS_CA_FILE", "/etc/kafka/ca.pem")
	_, err := Start(logger, withCommon{}, func(withCommon) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `KAFKA_SASL_MECHANISM: unknown mechanism "SCRAM-SHA-1"`) ||
		!strings.Contains(err.Error(), "KAFKA_TLS_CA_FILE: set, but KAFKA_TLS is not true") {
		t.Fatalf("err = %v", err)
	}
	t.Setenv("KAFKA_SASL_MECHANISM", "PLAIN")
	t.Setenv("KAFKA_TLS_CA_FILE", "")
	t.Setenv("KAFKA_SASL_USERNAME", "friend")
	t.Setenv("KAFKA_SASL_PASSWORD", "pw")
	if _, err := Start(logger, withService{}, func(withService) error { return nil }); err == nil ||
		!strings.Contains(err.Error(), "KAFKA_SASL_ALLOW_PLAINTEXT=true") {
		t.Fatalf("SASL in clear: err = %v", err)
	}
	t.Setenv("KAFKA_SASL_ALLOW_PLAINTEXT", "true")
	if _, err := Start(logger, withService{}, func(withService) error { return nil }); err != nil {
		t.Fatalf("SASL in clear, allowed: %v", err)
	}
}

// Each shared variable loads with its default, is read from its variable and is logged where its
// struct is embedded; the internal token is masked.
func TestSharedVariablesAreLoadedAndLoggedInPlace(t *testing.T) {
	type cfg struct {
		AuthPeer
		ProfilePeer
		Timeout time.Duration `env:"TIMEOUT" envDefault:"3s"`
		FriendPeer
		ChatPeer
		NotificationPeer
		MediaPeer
		Redis
		InternalAPI
		AuthJWKS
	}
	c, err := Load[cfg]()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range Attrs(c) {
		attr := a.(slog.Attr)
		got = append(got, attr.Key+"="+attr.Value.String())
	}
	want := []string{
		"AUTH_URL=http://127.0.0.1:8081", "PROFILE_URL=http://127.0.0.1:8082", "TIMEOUT=3s", "FRIEND_URL=http://127.0.0.1:8083",
		"CHAT_URL=http://127.0.0.1:8084", "NOTIFICATION_URL=http://127.0.0.1:8085", "MEDIA_URL=http://127.0.0.1:8086",
		"REDIS_URL=redis://127.0.0.1:6379", "INTERNAL_API_TOKEN=", "AUTH_JWKS_URL=http://127.0.0.1:8081/.well-known/jwks.json",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("attrs = %q\nwant    %q", got, want)
	}
	for name, value := range map[string]string{
		"AUTH_URL": "http://a:1", "PROFILE_URL": "http://p:2", "FRIEND_URL": "http://f:3", "CHAT_URL": "http://c:4",
		"NOTIFICATION_URL": "http://n:5", "MEDIA_URL": "http://m:6", "REDIS_URL": "redis://u:pw@r:7",
		"INTERNAL_API_TOKEN": "tok", "AUTH_JWKS_URL": "http://j:8/jwks",
	} {
		t.Setenv(name, value)
	}
	if c, err = Load[cfg](); err != nil {
		t.Fatal(err)
	}
	if c.AuthURL != "http://a:1" || c.ProfileURL != "http://p:2" || c.FriendURL != "http://f:3" || c.ChatURL != "http://c:4" ||
		c.NotificationURL != "http://n:5" || c.MediaURL != "http://m:6" || c.RedisURL != "redis://u:pw@r:7" ||
		c.InternalAPIToken != "tok" || c.AuthJWKSURL != "http://j:8/jwks" {
		t.Fatalf("cfg = %+v", c)
	}
	got = got[:0]
	for _, a := range Attrs(c) {
		attr := a.(slog.Attr)
		got = append(got, attr.Key+"="+attr.Value.String())
	}
	if !slices.Contains(got, "INTERNAL_API_TOKEN=*****") || !slices.Contains(got, "REDIS_URL=redis://u:redacted@r:7") {
		t.Fatalf("attrs = %q", got)
	}
}

// Browsers reach S3 at S3_PUBLIC_ENDPOINT, or at S3_ENDPOINT when that is unset: media's upload
// forms and the gateway's Content-Security-Policy must agree on it.
func TestS3EndpointsAndMediaPublicURL(t *testing.T) {
	type cfg struct {
		S3Endpoints
		MediaPublic
	}
	c, err := Load[cfg]()
	if err != nil {
		t.Fatal(err)
	}
	if c.S3Endpoint != "http://127.0.0.1:9000" || c.BrowserS3Endpoint() != "http://127.0.0.1:9000" || c.MediaPublicURL != "http://127.0.0.1:8080" {
		t.Fatalf("defaults: %+v, browser endpoint %q", c, c.BrowserS3Endpoint())
	}
	t.Setenv("S3_ENDPOINT", "http://s3.internal:9000")
	if c, err = Load[cfg](); err != nil {
		t.Fatal(err)
	}
	if got := c.BrowserS3Endpoint(); got != "http://s3.internal:9000" {
		t.Errorf("S3_ENDPOINT only: browser endpoint %q, want S3_ENDPOINT", got)
	}
	t.Setenv("S3_PUBLIC_ENDPOINT", "https://s3.example.com")
	if c, err = Load[cfg](); err != nil {
		t.Fatal(err)
	}
	if got := c.BrowserS3Endpoint(); got != "https://s3.example.com" || c.S3Endpoint != "http://s3.internal:9000" {
		t.Errorf("both set: browser endpoint %q, S3_ENDPOINT %q", got, c.S3Endpoint)
	}
}

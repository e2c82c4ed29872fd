package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func envMap(t *testing.T, env []string) map[string]string {
	t.Helper()
	if !slices.IsSorted(env) {
		t.Errorf("environment not sorted: %q", env)
	}
	m := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("malformed %q", kv)
		}
		m[k] = v
	}
	return m
}

func TestEnvOfAServiceAtTheStandardPorts(t *testing.T) {
	root := repoRoot(t)
	env, err := Env(Options{Root: root}, "auth")
	if err != nil {
		t.Fatal(err)
	}
	got := envMap(t, env)
	data := filepath.Join(root, ".data")
	want := map[string]string{
		"LISTEN_ADDR":               "127.0.0.1:8081",
		"ADMIN_ADDR":                "127.0.0.1:9081", // the service port + 1000
		"LOG_FORMAT":                "text",
		"INTERNAL_API_TOKEN":        DevInternalAPIToken,
		"DATABASE_URL":              "postgres://postgres@127.0.0.1:5433/parley_auth?sslmode=disable",
		"KAFKA_BROKERS":             "127.0.0.1:9092",
		"REDIS_URL":                 "redis://127.0.0.1:6380",
		"AUTH_JWKS_URL":             "http://127.0.0.1:8081/.well-known/jwks.json",
		"AUTH_URL":                  "http://127.0.0.1:8081",
		"GATEWAY_URL":               "http://127.0.0.1:8080",
		"PROFILE_URL":               "http://127.0.0.1:8082",
		"FRIEND_URL":                "http://127.0.0.1:8083",
		"CHAT_URL":                  "http://127.0.0.1:8084",
		"NOTIFICATION_URL":          "http://127.0.0.1:8085",
		"MEDIA_URL":                 "http://127.0.0.1:8086",
		"AUTH_SIGNING_KEY_FILE":     data + "/auth/signing-key.json",
		"AUTH_GENERATE_SIGNING_KEY": "true",
		"AUTH_TOTP_KEY_FILE":        data + "/auth/totp-key",
		"AUTH_GENERATE_TOTP_KEY":    "true",
		// "Sign in with Dev": the provider the dev stack runs, and the web client's callback, on
		// the gateway's origins and on the Vite dev server's (`npm run dev`).
		"AUTH_OAUTH_PROVIDERS":         "dev",
		"AUTH_OAUTH_DEV_ISSUER":        "http://127.0.0.1:9096",
		"AUTH_OAUTH_DEV_CLIENT_ID":     DevOIDCClientID,
		"AUTH_OAUTH_DEV_CLIENT_SECRET": DevOIDCClientSecret,
		"AUTH_OAUTH_DEV_REDIRECT_URIS": "http://127.0.0.1:8080/oauth/callback,http://localhost:8080/oauth/callback,http://localhost:5173/oauth/callback,http://127.0.0.1:5173/oauth/callback",
		"AUTH_OAUTH_DEV_DISPLAY_NAME":  "Dev",
		// Passkeys on the gateway's origins; browsers take "localhost" as an RP id, not an IP.
		"AUTH_PASSKEY_RP_ID":   "localhost",
		"AUTH_PASSKEY_ORIGINS": "http://localhost:8080,http://127.0.0.1:8080",
		// Traces go to the dev stack's viewer.
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s=%s (auth needs no S3, no SMTP)", k, got[k])
		}
	}
}

// The embedded broker is plain text: Kafka TLS and SASL variables in the developer's shell, meant
// for an external cluster (KAFKA_BROKERS), are emptied for the services, which would otherwise
// dial it with TLS. An external cluster's are left for the services to inherit.
func TestEnvEmptiesKafkaSecurityForTheEmbeddedBroker(t *testing.T) {
	shell := []string{"KAFKA_TLS=true", "KAFKA_SASL_MECHANISM=PLAIN", "KAFKA_SASL_USERNAME=dev", "KAFKA_SASL_PASSWORD=pw"}
	env, err := Env(Options{Root: repoRoot(t), Environ: func() []string { return shell }}, "chat")
	if err != nil {
		t.Fatal(err)
	}
	got := envMap(t, env)
	for _, kv := range shell {
		k, _, _ := strings.Cut(kv, "=")
		if v, ok := got[k]; !ok || v != "" {
			t.Errorf("%s = %q (set: %v), want it set empty", k, v, ok)
		}
	}
	if got["KAFKA_BROKERS"] != "127.0.0.1:9092" {
		t.Errorf("KAFKA_BROKERS = %q", got["KAFKA_BROKERS"])
	}

	external := Options{Root: repoRoot(t), KafkaBrokers: []string{"k1:9093"}, Environ: func() []string { return shell }}
	got = envMapOf(t, external, "chat")
	if _, set := got["KAFKA_TLS"]; set || got["KAFKA_BROKERS"] != "k1:9093" {
		t.Errorf("external cluster: KAFKA_TLS set %v, KAFKA_BROKERS = %q; want the shell's KAFKA_TLS inherited", set, got["KAFKA_BROKERS"])
	}
}

func TestEnvFollowsThePortBaseAndExternalInfrastructure(t *testing.T) {
	opts, err := OptionsFromEnv(func(k string) string {
		return map[string]string{
			"PARLEY_PORT_BASE": "20000",
			"PARLEY_DATA_DIR":  "/srv/parley-data",
			"DATABASE_URL":     "postgres://app:secret@db.internal:6543/postgres?sslmode=require&application_name=x",
			"KAFKA_BROKERS":    "k1:9092, k2:9092",
			"S3_BUCKET":        "other-bucket",
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	opts.Root = repoRoot(t)

	media := envMapOf(t, opts, "media")
	for k, v := range map[string]string{
		"LISTEN_ADDR":                 "127.0.0.1:20006",
		"ADMIN_ADDR":                  "127.0.0.1:20036", // base + 30 + the service's offset
		"DATABASE_URL":                "postgres://app:secret@db.internal:6543/parley_media?sslmode=require&application_name=x",
		"KAFKA_BROKERS":               "k1:9092,k2:9092",
		"REDIS_URL":                   "redis://127.0.0.1:20021",
		"AUTH_JWKS_URL":               "http://127.0.0.1:20001/.well-known/jwks.json",
		"S3_ENDPOINT":                 "http://127.0.0.1:20023",
		"S3_ACCESS_KEY":               DefaultS3AccessKey,
		"S3_SECRET_KEY":               DefaultS3SecretKey,
		"S3_BUCKET":                   "other-bucket",
		"S3_REGION":                   DefaultS3Region,
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:20027",
	} {
		if media[k] != v {
			t.Errorf("media %s = %q, want %q", k, media[k], v)
		}
	}
	if _, ok := media["SMTP_URL"]; ok {
		t.Error("media got SMTP_URL; it does not send mail")
	}

	gw := envMapOf(t, opts, "gateway")
	if _, ok := gw["DATABASE_URL"]; ok {
		t.Error("the gateway owns no database but got DATABASE_URL")
	}
	if gw["LISTEN_ADDR"] != "127.0.0.1:20000" || gw["PROFILE_URL"] != "http://127.0.0.1:20002" {
		t.Errorf("gateway LISTEN_ADDR=%s PROFILE_URL=%s", gw["LISTEN_ADDR"], gw["PROFILE_URL"])
	}
	// Public URLs follow the gateway wherever the port base puts it (the Vite dev server's port is
	// Vite's own).
	if got := gw["CORS_ALLOWED_ORIGINS"]; got != "http://localhost:20000,http://127.0.0.1:20000,http://localhost:5173,http://127.0.0.1:5173" {
		t.Errorf("gateway CORS_ALLOWED_ORIGINS = %q", got)
	}
	// The browser reaches the dev stack's gateway over plain http: a Secure cookie would be lost.
	if got := gw["REFRESH_COOKIE_SECURE"]; got != "false" {
		t.Errorf("gateway REFRESH_COOKIE_SECURE = %q, want false", got)
	}
	if got := media["MEDIA_PUBLIC_URL"]; got != "http://127.0.0.1:20000" {
		t.Errorf("media MEDIA_PUBLIC_URL = %q", got)
	}
	if got, set := envMapOf(t, opts, "friend")["MEDIA_PUBLIC_URL"]; set {
		t.Errorf("friend MEDIA_PUBLIC_URL = %q; only media needs it (friend takes avatar URLs from ProfileUpdated)", got)
	}
	notification := envMapOf(t, opts, "notification")
	if notification["PUBLIC_WEB_URL"] != "http://127.0.0.1:20000" || notification["SMTP_URL"] != "smtp://127.0.0.1:20024" || notification["MAILPIT_URL"] != "http://127.0.0.1:20025" {
		t.Errorf("notification PUBLIC_WEB_URL=%s SMTP_URL=%s MAILPIT_URL=%s", notification["PUBLIC_WEB_URL"], notification["SMTP_URL"], notification["MAILPIT_URL"])
	}
	// One VAPID key pair, generated at the first start and kept with the data: a new key would
	// orphan every browser subscription made with the old one.
	if notification["PUSH_VAPID_KEY_FILE"] != "/srv/parley-data/notification/vapid-key" || notification["PUSH_GENERATE_VAPID_KEY"] != "true" {
		t.Errorf("notification PUSH_VAPID_KEY_FILE=%s PUSH_GENERATE_VAPID_KEY=%s", notification["PUSH_VAPID_KEY_FILE"], notification["PUSH_GENERATE_VAPID_KEY"])
	}
	if _, ok := gw["WEB_DIR"]; ok != pathExists(filepath.Join(opts.Root, "web/dist")) {
		t.Errorf("WEB_DIR set = %v, but web/dist exists = %v", ok, !ok)
	}
	auth := envMapOf(t, opts, "auth")
	if auth["AUTH_SIGNING_KEY_FILE"] != "/srv/parley-data/auth/signing-key.json" {
		t.Errorf("AUTH_SIGNING_KEY_FILE = %q", auth["AUTH_SIGNING_KEY_FILE"])
	}
	if auth["AUTH_TOTP_KEY_FILE"] != "/srv/parley-data/auth/totp-key" {
		t.Errorf("AUTH_TOTP_KEY_FILE = %q", auth["AUTH_TOTP_KEY_FILE"])
	}
	if auth["AUTH_OAUTH_DEV_ISSUER"] != "http://127.0.0.1:20026" ||
		auth["AUTH_OAUTH_DEV_REDIRECT_URIS"] != "http://127.0.0.1:20000/oauth/callback,http://localhost:20000/oauth/callback,http://localhost:5173/oauth/callback,http://127.0.0.1:5173/oauth/callback" {
		t.Errorf("AUTH_OAUTH_DEV_ISSUER = %q, AUTH_OAUTH_DEV_REDIRECT_URIS = %q", auth["AUTH_OAUTH_DEV_ISSUER"], auth["AUTH_OAUTH_DEV_REDIRECT_URIS"])
	}

	opts.DatabaseSuffix = "_e2e"
	if db := envMapOf(t, opts, "chat")["DATABASE_URL"]; !strings.Contains(db, "/parley_chat_e2e?") {
		t.Errorf("with a suffix, DATABASE_URL = %s", db)
	}
}

// A developer who exports traces elsewhere keeps that: the services are not pointed at the viewer.
func TestYourTraceCollectorWins(t *testing.T) {
	opts := Options{Root: repoRoot(t), Environ: func() []string { return []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4318"} }}
	env, err := Env(opts, "chat")
	if err != nil {
		t.Fatal(err)
	}
	if got, set := envMap(t, env)["OTEL_EXPORTER_OTLP_ENDPOINT"]; set && got != "http://jaeger:4318" {
		t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT = %q, want the developer's own (or unset, to pass through)", got)
	}
}

func envMapOf(t *testing.T, opts Options, name string) map[string]string {
	t.Helper()
	env, err := Env(opts, name)
	if err != nil {
		t.Fatal(err)
	}
	return envMap(t, env)
}

func TestEnvRejectsUnknownServicesAndBadSettings(t *testing.T) {
	root := repoRoot(t)
	if _, err := Env(Options{Root: root}, "billing"); err == nil || !strings.Contains(err.Error(), "known: gateway, auth") {
		t.Errorf("unknown service: %v", err)
	}
	for _, o := range []Options{
		{Root: root, DatabaseURL: "host=localhost dbname=x"},
		{Root: root, RedisURL: "127.0.0.1:6379"},
		{Root: root, S3Endpoint: "127.0.0.1:9000"},
		{Root: root, SMTPURL: "mail:25"},
		{Root: root, PortBase: 80},
		{Root: root, DatabaseSuffix: "-x"},
		{Root: root, PostgresSynchronousCommit: "maybe"},
	} {
		if _, err := Env(o, "auth"); err == nil {
			t.Errorf("Env(%+v) accepted bad options", o)
		}
	}
	_, err := OptionsFromEnv(func(k string) string {
		return map[string]string{"PARLEY_PORT_BASE": "abc", "PARLEY_STOP_ON_CRASH": "maybe", "PARLEY_READY_TIMEOUT": "5"}[k]
	})
	for _, want := range []string{"PARLEY_PORT_BASE", "PARLEY_STOP_ON_CRASH", "PARLEY_READY_TIMEOUT"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("OptionsFromEnv error %v does not name %s", err, want)
		}
	}
}

func TestEnvIfExistsFollowsThePath(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, RegistryPath), `{"services": [{"name": "gateway", "port": 8080,
		"env_if_exists": {"WEB_DIR": "${ROOT}/web/dist"}, "env": {"X": "${NOPE}-${GATEWAY_PORT}"}}]}`)
	if got := envMapOf(t, Options{Root: root}, "gateway")["X"]; got != "${NOPE}-8080" {
		t.Errorf("X = %q: known variables expand, unknown ones stay as written", got)
	}
	if _, ok := envMapOf(t, Options{Root: root}, "gateway")["WEB_DIR"]; ok {
		t.Error("WEB_DIR set though web/dist does not exist")
	}
	mustWrite(t, filepath.Join(root, "web/dist/index.html"), "<html>")
	if got := envMapOf(t, Options{Root: root}, "gateway")["WEB_DIR"]; got != filepath.Join(root, "web/dist") {
		t.Errorf("WEB_DIR = %q once web/dist exists", got)
	}
}

// TestEnvAppendKeepsTheDevelopersOwnItems: providers configured in the developer's environment
// are offered besides the dev one.
func TestEnvAppendKeepsTheDevelopersOwnItems(t *testing.T) {
	root := repoRoot(t)
	for environ, want := range map[string]string{
		"":                                    "dev",
		"AUTH_OAUTH_PROVIDERS=google":         "google,dev",
		"AUTH_OAUTH_PROVIDERS= dev , github,": "dev,github",
	} {
		opts := Options{Root: root, Environ: func() []string { return []string{"PATH=/bin", environ} }}
		if got := envMapOf(t, opts, "auth")["AUTH_OAUTH_PROVIDERS"]; got != want {
			t.Errorf("with %q in the environment: AUTH_OAUTH_PROVIDERS = %q, want %q", environ, got, want)
		}
	}
}

func TestMergeEnvLetsTheStackWin(t *testing.T) {
	got := MergeEnv([]string{"PATH=/bin", "DATABASE_URL=postgres://elsewhere/x", "HOME=/root"}, []string{"DATABASE_URL=postgres://here/parley_auth"})
	want := []string{"PATH=/bin", "HOME=/root", "DATABASE_URL=postgres://here/parley_auth"}
	if !slices.Equal(got, want) {
		t.Fatalf("MergeEnv = %q, want %q", got, want)
	}
}

func TestServiceExistsNeedsAMainPackage(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "services/a/go.mod"), "module a\n")
	mustWrite(t, filepath.Join(root, "services/a/internal/x/x.go"), "package x\n")
	mustWrite(t, filepath.Join(root, "services/b/main.go"), "package main\n")
	mustWrite(t, filepath.Join(root, "services/c/run.go"), "package main\n")
	for name, want := range map[string]bool{"a": false, "b": true, "c": false, "d": false} {
		if got := serviceExists(root, name); got != want {
			t.Errorf("serviceExists(%s) = %v, want %v", name, got, want)
		}
	}
}

// TestYourEnvironmentWinsOverTheRegistry: a variable set in the shell replaces the registry's
// value for that service (set even to empty), while what the stack itself decides stays its own.
func TestYourEnvironmentWinsOverTheRegistry(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, RegistryPath), `{"services": [{"name": "gateway", "port": 8080,
		"env": {"CORS_ALLOWED_ORIGINS": "http://localhost:${GATEWAY_PORT}", "EMPTY_OK": "registry"},
		"env_if_exists": {"WEB_DIR": "${ROOT}/web/dist|index.html"}}]}`)
	mustWrite(t, filepath.Join(root, "web/dist/index.html"), "<html>")
	registry := envMapOf(t, Options{Root: root, Environ: func() []string { return []string{"PATH=/bin"} }}, "gateway")
	if registry["CORS_ALLOWED_ORIGINS"] != "http://localhost:8080" || registry["WEB_DIR"] != filepath.Join(root, "web/dist") {
		t.Errorf("without your variables: %q, %q", registry["CORS_ALLOWED_ORIGINS"], registry["WEB_DIR"])
	}
	yours := func() []string {
		return []string{"CORS_ALLOWED_ORIGINS=https://app.example.com", "EMPTY_OK=", "WEB_DIR=/srv/app", "LISTEN_ADDR=:1"}
	}
	env, err := Env(Options{Root: root, Environ: yours}, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	merged := MergeEnv(yours(), env) // what the service runs with
	slices.Sort(merged)
	got := envMap(t, merged)
	for k, want := range map[string]string{
		"CORS_ALLOWED_ORIGINS": "https://app.example.com", "EMPTY_OK": "", "WEB_DIR": "/srv/app", "LISTEN_ADDR": "127.0.0.1:8080",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
}

// TestDevGatewayServesTheAppAndAllowsVite: the real registry's gateway allows the Vite dev server
// besides its own origins, is told the S3 endpoint and media's origin for the app's policy, and
// gets WEB_DIR only once web/dist holds index.html.
func TestDevGatewayServesTheAppAndAllowsVite(t *testing.T) {
	root := t.TempDir()
	reg, err := os.ReadFile(filepath.Join(repoRoot(t), RegistryPath))
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(root, RegistryPath), string(reg))
	opts := Options{Root: root, S3Endpoint: "http://127.0.0.1:9999", Environ: func() []string { return nil }}
	gw := envMapOf(t, opts, "gateway")
	if want := "http://localhost:8080,http://127.0.0.1:8080,http://localhost:5173,http://127.0.0.1:5173"; gw["CORS_ALLOWED_ORIGINS"] != want {
		t.Errorf("CORS_ALLOWED_ORIGINS = %q, want %q", gw["CORS_ALLOWED_ORIGINS"], want)
	}
	if gw["S3_PUBLIC_ENDPOINT"] != "http://127.0.0.1:9999" || gw["MEDIA_PUBLIC_URL"] != "http://127.0.0.1:8080" {
		t.Errorf("S3_PUBLIC_ENDPOINT = %q, MEDIA_PUBLIC_URL = %q", gw["S3_PUBLIC_ENDPOINT"], gw["MEDIA_PUBLIC_URL"])
	}
	mustWrite(t, filepath.Join(root, "web/dist/assets/app.js"), "")
	if dir, ok := envMapOf(t, opts, "gateway")["WEB_DIR"]; ok {
		t.Errorf("WEB_DIR = %q though web/dist has no index.html", dir)
	}
	gatewayEnv := func() []string {
		env, err := Env(opts, "gateway")
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	gateway := func() (*Options, Service) {
		o, reg, err := opts.withRegistry()
		if err != nil {
			t.Fatal(err)
		}
		svc, _ := reg.Service("gateway")
		return &o, svc
	}
	gatewayPort := func() int {
		o, svc := gateway()
		return o.ServicePort(svc)
	}
	if got := appURL(gatewayEnv(), gatewayPort()); got != "" {
		t.Errorf("app URL %q without an app", got)
	}
	mustWrite(t, filepath.Join(root, "web/dist/index.html"), "<html>")
	if got := envMapOf(t, opts, "gateway")["WEB_DIR"]; got != filepath.Join(root, "web/dist") {
		t.Errorf("WEB_DIR = %q once web/dist/index.html exists", got)
	}
	if got := appURL(gatewayEnv(), gatewayPort()); got != "http://localhost:8080/" {
		t.Errorf("app URL = %q", got)
	}
	// With replicas, the balancer's port, not the replica's own that its LISTEN_ADDR holds.
	o, svc := gateway()
	replica := mergeEnv(gatewayEnv(), []string{fmt.Sprintf("LISTEN_ADDR=127.0.0.1:%d", o.ReplicaPort(svc, 1))})
	if got := appURL(replica, gatewayPort()); got != "http://localhost:8080/" {
		t.Errorf("app URL of a replica = %q, want the balancer's", got)
	}
	// The port the gateway was started on, wherever PARLEY_PORT_BASE put it.
	opts.PortBase = 26500
	if got := appURL(gatewayEnv(), gatewayPort()); got != "http://localhost:26500/" {
		t.Errorf("app URL with port base 26500 = %q", got)
	}
	// A WEB_DIR of yours without a build in it shows no app.
	opts.Environ = func() []string { return []string{"WEB_DIR=" + t.TempDir()} }
	if got := appURL(MergeEnv(opts.Environ(), gatewayEnv()), gatewayPort()); got != "" {
		t.Errorf("app URL %q for an empty WEB_DIR", got)
	}
}

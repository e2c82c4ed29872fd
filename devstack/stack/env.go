package stack

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Env returns the variables the dev stack gives service name under opts (KEY=VALUE, sorted), without
// starting anything: what `devstack env <svc>` prints and `devstack exec <svc>` runs a command with.
func Env(opts Options, name string) ([]string, error) {
	o, reg, err := opts.withRegistry()
	if err != nil {
		return nil, err
	}
	svc, ok := reg.Service(name)
	if !ok {
		return nil, fmt.Errorf("no service %q in %s (known: %s)", name, RegistryPath, strings.Join(reg.Names(), ", "))
	}
	return o.serviceEnv(reg, o.endpoints(), svc)
}

// serviceEnv composes one service's environment. It is the only place that decides what a service
// is told; docs/devstack.md lists the result.
func (o *Options) serviceEnv(reg *Registry, e Endpoints, svc Service) ([]string, error) {
	vars := map[string]string{}
	var inherited []string
	if o.Environ != nil {
		inherited = o.Environ()
	}
	// Extra variables from the registry first, each unless the developer's environment has it
	// (set, even empty: what a shell sets wins over the registry's default); what the stack itself
	// sets below wins over both. They may refer to ${DATA_DIR}, ${ROOT}, ${<NAME>_URL} /
	// ${<NAME>_PORT} of every service, ${S3_ENDPOINT}, ${WEB_DEV_PORT} and the dev OpenID Connect
	// provider's ${DEV_OIDC_URL}, ${DEV_OIDC_CLIENT_ID}, ${DEV_OIDC_CLIENT_SECRET}.
	known := map[string]string{
		"DATA_DIR":               o.DataDir,
		"ROOT":                   o.Root,
		"S3_ENDPOINT":            e.S3Endpoint,
		"WEB_DEV_PORT":           strconv.Itoa(WebDevPort),
		"DEV_OIDC_URL":           e.DevOIDCURL,
		"DEV_OIDC_CLIENT_ID":     DevOIDCClientID,
		"DEV_OIDC_CLIENT_SECRET": DevOIDCClientSecret,
	}
	for _, other := range reg.Services {
		known[strings.ToUpper(other.Name)+"_URL"] = serviceURL(o, other)
		known[strings.ToUpper(other.Name)+"_PORT"] = strconv.Itoa(o.ServicePort(other))
	}
	expand := func(k string) string {
		if v, ok := known[k]; ok {
			return v
		}
		return "${" + k + "}"
	}
	for k, v := range svc.Env {
		if _, yours := lookupEnv(inherited, k); !yours {
			vars[k] = os.Expand(v, expand)
		}
	}
	for k, v := range svc.EnvIfExists {
		if _, yours := lookupEnv(inherited, k); yours {
			continue
		}
		// "<path>|<name>": the path, while <path>/<name> exists (a directory with what is needed).
		p, need, _ := strings.Cut(os.Expand(v, expand), "|")
		if pathExists(filepath.Join(p, need)) {
			vars[k] = p
		}
	}
	for k, v := range svc.EnvAppend {
		yours, _ := lookupEnv(inherited, k)
		vars[k] = appendList(yours, os.Expand(v, expand))
	}

	// Traces go to the stack's viewer, unless the developer exports them somewhere of their own.
	if _, yours := lookupEnv(inherited, "OTEL_EXPORTER_OTLP_ENDPOINT"); !yours {
		vars["OTEL_EXPORTER_OTLP_ENDPOINT"] = e.TracesURL
	}
	vars["LISTEN_ADDR"] = fmt.Sprintf("127.0.0.1:%d", o.ServicePort(svc))
	vars["ADMIN_ADDR"] = fmt.Sprintf("127.0.0.1:%d", o.AdminPort(svc))
	vars["LOG_FORMAT"] = "text"
	vars["INTERNAL_API_TOKEN"] = DevInternalAPIToken
	vars["KAFKA_BROKERS"] = strings.Join(e.KafkaBrokers, ",")
	if e.LocalKafka {
		// The embedded broker speaks plain text without authentication, whatever the developer's
		// shell holds for an external cluster.
		for _, k := range kafkaSecurityVars {
			if _, yours := lookupEnv(inherited, k); yours {
				vars[k] = ""
			}
		}
	}
	vars["REDIS_URL"] = e.RedisURL
	if auth, ok := reg.Service("auth"); ok {
		vars["AUTH_JWKS_URL"] = serviceURL(o, auth) + "/.well-known/jwks.json"
	}
	for _, other := range reg.Services {
		vars[strings.ToUpper(other.Name)+"_URL"] = serviceURL(o, other)
	}
	if svc.Database != "" {
		u, err := withDatabase(e.DatabaseURL, svc.Database+o.DatabaseSuffix)
		if err != nil {
			return nil, err
		}
		vars["DATABASE_URL"] = u
	}
	if svc.S3 {
		vars["S3_ENDPOINT"] = e.S3Endpoint
		vars["S3_ACCESS_KEY"] = e.S3AccessKey
		vars["S3_SECRET_KEY"] = e.S3SecretKey
		vars["S3_BUCKET"] = e.S3Bucket
		vars["S3_REGION"] = e.S3Region
	}
	if svc.SMTP {
		vars["SMTP_URL"] = e.SMTPURL
		if e.MailpitURL != "" {
			vars["MAILPIT_URL"] = e.MailpitURL
		}
	}

	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out, nil
}

// appendList joins the comma-separated items of base and extra, dropping empty items and
// repeats.
func appendList(base, extra string) string {
	var out []string
	for _, item := range strings.Split(base+","+extra, ",") {
		if item = strings.TrimSpace(item); item != "" && !slices.Contains(out, item) {
			out = append(out, item)
		}
	}
	return strings.Join(out, ",")
}

// kafkaSecurityVars are the variables of config.Kafka besides KAFKA_BROKERS: how the services
// reach an external cluster (TLS, SASL).
var kafkaSecurityVars = []string{
	"KAFKA_TLS", "KAFKA_TLS_CA_FILE", "KAFKA_TLS_SERVER_NAME", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME",
	"KAFKA_SASL_PASSWORD", "KAFKA_SASL_PASSWORD_FILE", "KAFKA_SASL_ALLOW_PLAINTEXT",
}

// lookupEnv returns the value of key in env (KEY=VALUE lines; the last one wins, as in exec) and
// whether it is there at all.
func lookupEnv(env []string, key string) (string, bool) {
	v, found := "", false
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v, found = val, true
		}
	}
	return v, found
}

// WebDevPort is the Vite dev server's default port (`npm run dev` in web/), whose origins the dev
// stack's gateway allows. Not moved by PARLEY_PORT_BASE: it is Vite's, not the stack's.
const WebDevPort = 5173

// DevInternalAPIToken is the shared secret every service gets as INTERNAL_API_TOKEN, with which
// services call each other's internal methods. Fixed, so `devstack env` and `exec` agree with `up`;
// for development only (everything listens on 127.0.0.1).
const DevInternalAPIToken = "parley-dev-internal-token"

func serviceURL(o *Options, s Service) string {
	return fmt.Sprintf("http://127.0.0.1:%d", o.ServicePort(s))
}

// withDatabase returns the server URL pointing at database name instead, keeping user, host and
// parameters.
func withDatabase(serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("database URL: %w", err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// mergeEnv overlays vars (KEY=VALUE) on base, replacing variables of the same name.
func mergeEnv(base, vars []string) []string {
	set := map[string]bool{}
	for _, kv := range vars {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	out := make([]string, 0, len(base)+len(vars))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !set[k] {
			out = append(out, kv)
		}
	}
	return append(out, vars...)
}

// serviceDir is where a service's sources live.
func serviceDir(root, name string) string { return filepath.Join(root, "services", name) }

func pathExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// serviceExists reports whether a service has been written far enough to run: it has its
// services/<name>/main.go (docs/service-conventions.md), not just a go.mod or internal packages.
// The Tiltfile applies the same test.
func serviceExists(root, name string) bool {
	fi, err := os.Stat(filepath.Join(serviceDir(root, name), "main.go"))
	return err == nil && !fi.IsDir()
}

// MergeEnv overlays vars (KEY=VALUE) on base (os.Environ()), the stack's variables winning.
func MergeEnv(base, vars []string) []string { return mergeEnv(base, vars) }

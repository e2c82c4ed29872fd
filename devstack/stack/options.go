package stack

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/platform/defaults"
)

// Options configures a stack. The zero value runs everything locally at the standard ports with the
// repository found from the working directory; OptionsFromEnv fills it from the environment.
type Options struct {
	// Root is the repository root (holding tilt/services.json and services/). Empty: the nearest
	// directory at or above the working directory that holds tilt/services.json.
	Root string
	// DataDir holds everything the stack keeps between runs. Empty: <Root>/.data.
	DataDir string
	// PortBase moves every port the stack uses to PortBase+offset (services at +0..+19 in registry
	// order of their standard ports, Postgres +20, Redis +21, Kafka +22, S3 +23, SMTP +24, mail UI
	// +25, the dev OpenID Connect provider +26, admin listeners +30..+49; replica r's ports the
	// same again at +50r), so a second stack (tests) runs beside a developer's. 0: the standard
	// ports.
	PortBase int

	// External infrastructure; an empty field means "start one locally".
	DatabaseURL  string   // a Postgres server URL; the stack creates parley_<svc> databases on it
	RedisURL     string   // redis://host:port
	KafkaBrokers []string // seed brokers; the stack creates the Parley topics on them
	S3Endpoint   string   // http(s)://host:port; the bucket must exist
	SMTPURL      string   // smtp://host:port
	MailpitURL   string   // web UI / API of the mail catcher behind SMTPURL, if any

	// S3 credentials and bucket, for the local S3 server and handed to the services.
	// Defaults: parley-dev / parley-dev-secret, bucket parley-media, region us-east-1.
	S3AccessKey, S3SecretKey, S3Bucket, S3Region string

	// DatabaseSuffix is appended to every service database name (parley_auth<suffix>), for tests
	// that share a Postgres server with a developer's stack.
	DatabaseSuffix string

	// Services to run, by registry name. nil: every service in the registry whose directory exists
	// under services/. Ignored when InfraOnly.
	Services []string
	// InfraOnly starts the infrastructure and no service (what Tilt runs).
	InfraOnly bool
	// Replicas is how many processes of every service run (PARLEY_REPLICAS; 0 or 1: one, on its
	// port). With more, each replica listens on ports of its own (ReplicaPort, ReplicaAdminPort)
	// and a round-robin TCP balancer in the dev stack's process answers on the service's port,
	// as a Kubernetes Service does: callers and peers are configured as with one. At most
	// MaxReplicas.
	Replicas int
	// RotationLag, with replicas, keeps a replica that RestartReplica stops in its balancer's
	// rotation this long after the stop signal, and a connection it refuses meanwhile fails
	// instead of going to another replica: the moment in a Kubernetes rolling update between a
	// pod's SIGTERM and the removal of its endpoint, which callers must survive (by retrying).
	// 0: out of rotation before the stop signal.
	RotationLag time.Duration
	// StopOnCrash makes a service that exits on its own fail the whole stack (Done is closed and
	// Err says which). Otherwise it is restarted with backoff (1s doubling to 30s).
	StopOnCrash bool
	// NoInstall forbids installing missing Postgres/Redis binaries with apt-get (which the stack
	// otherwise does when running as root on Debian or Ubuntu).
	NoInstall bool

	// Output receives every process's output, a line at a time with the process name in front.
	// nil: discarded.
	Output io.Writer
	// Color colours the names in Output (see IsTerminal).
	Color bool
	// Logger receives the stack's own messages. nil: a text logger on Output under "devstack".
	Logger *slog.Logger

	// BinDir holds the tool binaries (versitygw, mailpit). Empty: <Root>/.bin. A missing tool is
	// built there from ToolsDir (empty: <Root>/tools) with `go install`.
	BinDir, ToolsDir string
	// ServiceBinDir is where the services are built. Empty: <DataDir>/bin. Stacks that share one
	// link the services once between them (`go build` leaves an up-to-date binary alone), as
	// stacktest's do; a lock in it keeps two processes from building there at once.
	ServiceBinDir string
	// PostgresBinDir holds initdb and postgres. Empty: the newest /usr/lib/postgresql/*/bin, else PATH.
	PostgresBinDir string
	// PostgresSynchronousCommit is the local cluster's synchronous_commit: "off" by default (a
	// crash of the machine may lose the last commits of a development stack, never consistency);
	// "on" is what production runs, e.g. for load tests (PARLEY_PG_SYNCHRONOUS_COMMIT).
	PostgresSynchronousCommit string

	// ReadyTimeout bounds the wait for each component and service to answer. Default 60s.
	ReadyTimeout time.Duration
	// StopTimeout bounds the wait for each process to exit after its stop signal before it is
	// killed. Default 10s.
	StopTimeout time.Duration

	// Environ is the environment the services inherit (the stack's variables override it). nil:
	// os.Environ.
	Environ func() []string
}

// Defaults for the local S3 server.
const (
	DefaultS3AccessKey = "parley-dev"
	DefaultS3SecretKey = "parley-dev-secret"
	DefaultS3Bucket    = "parley-media"
	DefaultS3Region    = "us-east-1"
)

// OptionsFromEnv reads the stack's configuration from environment variables (docs/devstack.md):
// DATABASE_URL, REDIS_URL, KAFKA_BROKERS, S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_BUCKET,
// S3_REGION, SMTP_URL, MAILPIT_URL, PARLEY_DATA_DIR, PARLEY_PORT_BASE, PARLEY_PG_BINDIR,
// PARLEY_STOP_ON_CRASH, PARLEY_NO_INSTALL, PARLEY_READY_TIMEOUT, PARLEY_PG_SYNCHRONOUS_COMMIT,
// PARLEY_REPLICAS.
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	o := Options{
		DataDir:        getenv("PARLEY_DATA_DIR"),
		DatabaseURL:    getenv("DATABASE_URL"),
		RedisURL:       getenv("REDIS_URL"),
		S3Endpoint:     getenv("S3_ENDPOINT"),
		S3AccessKey:    getenv("S3_ACCESS_KEY"),
		S3SecretKey:    getenv("S3_SECRET_KEY"),
		S3Bucket:       getenv("S3_BUCKET"),
		S3Region:       getenv("S3_REGION"),
		SMTPURL:        getenv("SMTP_URL"),
		MailpitURL:     getenv("MAILPIT_URL"),
		PostgresBinDir: getenv("PARLEY_PG_BINDIR"),

		PostgresSynchronousCommit: getenv("PARLEY_PG_SYNCHRONOUS_COMMIT"),
	}
	var errs []error
	if v := getenv("KAFKA_BROKERS"); v != "" {
		for _, b := range strings.Split(v, ",") {
			if b = strings.TrimSpace(b); b != "" {
				o.KafkaBrokers = append(o.KafkaBrokers, b)
			}
		}
	}
	if v := getenv("PARLEY_PORT_BASE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("PARLEY_PORT_BASE=%q: not a number", v))
		}
		o.PortBase = n
	}
	for name, dst := range map[string]*bool{"PARLEY_STOP_ON_CRASH": &o.StopOnCrash, "PARLEY_NO_INSTALL": &o.NoInstall} {
		if v := getenv(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: want true or false", name, v))
			}
			*dst = b
		}
	}
	if v := getenv("PARLEY_REPLICAS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("PARLEY_REPLICAS=%q: want a number of processes per service, 1-%d", v, MaxReplicas))
		}
		o.Replicas = n
	}
	if v := getenv("PARLEY_READY_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("PARLEY_READY_TIMEOUT=%q: want a duration such as 90s", v))
		}
		o.ReadyTimeout = d
	}
	return o, errors.Join(errs...)
}

// withDefaults fills empty fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	if o.Root == "" {
		root, err := FindRoot()
		if err != nil {
			return o, err
		}
		o.Root = root
	}
	var err error
	if o.Root, err = filepath.Abs(o.Root); err != nil {
		return o, err
	}
	if o.DataDir, err = filepath.Abs(cmp.Or(o.DataDir, filepath.Join(o.Root, ".data"))); err != nil {
		return o, err
	}
	if o.ServiceBinDir, err = filepath.Abs(cmp.Or(o.ServiceBinDir, filepath.Join(o.DataDir, "bin"))); err != nil {
		return o, err
	}
	o.BinDir = cmp.Or(o.BinDir, filepath.Join(o.Root, ".bin"))
	o.ToolsDir = cmp.Or(o.ToolsDir, filepath.Join(o.Root, "tools"))
	o.S3AccessKey = cmp.Or(o.S3AccessKey, DefaultS3AccessKey)
	o.S3SecretKey = cmp.Or(o.S3SecretKey, DefaultS3SecretKey)
	o.S3Bucket = cmp.Or(o.S3Bucket, DefaultS3Bucket)
	o.S3Region = cmp.Or(o.S3Region, DefaultS3Region)
	o.ReadyTimeout = defaults.Positive(o.ReadyTimeout, 60*time.Second)
	switch o.PostgresSynchronousCommit {
	case "":
		o.PostgresSynchronousCommit = "off"
	case "on", "off", "local", "remote_write", "remote_apply":
	default:
		return o, fmt.Errorf("PARLEY_PG_SYNCHRONOUS_COMMIT=%q: want on, off, local, remote_write or remote_apply", o.PostgresSynchronousCommit)
	}
	o.StopTimeout = defaults.Positive(o.StopTimeout, 10*time.Second)
	if o.Environ == nil {
		o.Environ = os.Environ
	}
	o.Replicas = cmp.Or(o.Replicas, 1)
	if o.Replicas < 1 || o.Replicas > MaxReplicas {
		return o, fmt.Errorf("PARLEY_REPLICAS=%d: want 1-%d processes per service", o.Replicas, MaxReplicas)
	}
	if o.PortBase != 0 && (o.PortBase < 1024 || o.PortBase+PortSpan > 65535) {
		return o, fmt.Errorf("port base %d: want 0 (standard ports) or 1024-%d", o.PortBase, 65535-PortSpan)
	}
	for _, u := range []struct {
		value, refusal string
		schemes        []string
	}{
		{o.DatabaseURL, "DATABASE_URL must be a server URL such as postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", []string{"postgres", "postgresql"}},
		{o.RedisURL, "REDIS_URL must look like redis://127.0.0.1:6379", []string{"redis", "rediss"}},
		{o.S3Endpoint, "S3_ENDPOINT must look like http://127.0.0.1:9000", []string{"http", "https"}},
		{o.SMTPURL, "SMTP_URL must look like smtp://127.0.0.1:1025", []string{"smtp", "smtps"}},
	} {
		if u.value != "" && !urlWithScheme(u.value, u.schemes...) {
			return o, errors.New(u.refusal)
		}
	}
	if o.DatabaseSuffix != "" && !dbName.MatchString("x"+o.DatabaseSuffix) {
		return o, fmt.Errorf("database suffix %q: lower-case letters, digits and _ only", o.DatabaseSuffix)
	}
	return o, nil
}

// withRegistry is withDefaults followed by loading the registry of the repository at o.Root:
// where everything that reads the registry (Start, Env) begins.
func (o Options) withRegistry() (Options, *Registry, error) {
	o, err := o.withDefaults()
	if err != nil {
		return o, nil, err
	}
	reg, err := LoadRegistry(o.Root)
	return o, reg, err
}

// urlWithScheme reports whether raw parses as a URL with a host and one of schemes.
func urlWithScheme(raw string, schemes ...string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Host != "" && slices.Contains(schemes, u.Scheme)
}

// FindRoot returns the nearest directory at or above the working directory that holds
// tilt/services.json.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, RegistryPath)); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no %s in the working directory or above it: run from the Parley repository", RegistryPath)
		}
		dir = parent
	}
}

// Port layout. With a base B every port is B+offset; with base 0 these standard ports apply.
const (
	offPostgres = maxServices + iota
	offRedis
	offKafka
	offS3
	offSMTP
	offMailUI
	offOIDC
	offTraces
)

const (
	// offAdmin is the first service admin listener (ADMIN_ADDR: pprof); service i's is offAdmin+i.
	offAdmin = 30
	// blockSpan is one block of the layout: services, infrastructure, admin listeners. Replica r
	// of a replicated stack has the block at PortBase + r*blockSpan for its two ports.
	blockSpan = offAdmin + maxServices
	// MaxReplicas bounds Options.Replicas: each replica takes a block of ports.
	MaxReplicas = 3
	// PortSpan is how many consecutive ports from PortBase a stack may use: its own block and one
	// per possible replica.
	PortSpan = blockSpan * (1 + MaxReplicas)
)

var standardPorts = map[int]int{
	offPostgres: 5433,
	offRedis:    6380,
	offKafka:    9092,
	offS3:       9000,
	offSMTP:     1025,
	offMailUI:   8025,
	offOIDC:     9096,
	offTraces:   4318, // OTLP/HTTP's own port
}

// standardAdminShift puts a service's admin listener at its port + 1000 on the standard layout
// (gateway 8080 → 9080, chat 8084 → 9084).
const standardAdminShift = 1000

// standardReplicaShift puts replica r's ports at the service's ports + 100r on the standard layout
// (chat's replicas at 8184 and 8284, admin 9184 and 9284).
const standardReplicaShift = 100

// dataDir makes the directory name in DataDir (a service's or a piece of infrastructure's own)
// when it does not exist, and returns its path.
func (o *Options) dataDir(name string) (string, error) {
	dir := filepath.Join(o.DataDir, name)
	return dir, os.MkdirAll(dir, 0o755)
}

func (o *Options) port(offset int) int {
	if o.PortBase != 0 {
		return o.PortBase + offset
	}
	if p, ok := standardPorts[offset]; ok {
		return p
	}
	if offset >= offAdmin {
		return firstServicePort + offset - offAdmin + standardAdminShift
	}
	return firstServicePort + offset
}

// ServicePort is the port a service listens on under these options.
func (o *Options) ServicePort(s Service) int { return o.port(s.Port - firstServicePort) }

// AdminPort is the port of a service's admin listener (ADMIN_ADDR: /debug/pprof/): its port +
// 1000 on the standard layout, PortBase + 30 + (its port − 8080) with a base.
func (o *Options) AdminPort(s Service) int { return o.port(offAdmin + s.Port - firstServicePort) }

// ReplicaPort is the port replica r (1-based) of a service listens on when the stack runs more
// than one (Replicas): its port + 100r on the standard layout, PortBase + 50r + (its port − 8080)
// with a base.
func (o *Options) ReplicaPort(s Service, r int) int { return o.replicaPort(s.Port-firstServicePort, r) }

// ReplicaAdminPort is replica r's admin listener: AdminPort + 100r on the standard layout,
// PortBase + 50r + 30 + (its port − 8080) with a base.
func (o *Options) ReplicaAdminPort(s Service, r int) int {
	return o.replicaPort(offAdmin+s.Port-firstServicePort, r)
}

func (o *Options) replicaPort(offset, r int) int {
	if o.PortBase != 0 {
		return o.PortBase + r*blockSpan + offset
	}
	return o.port(offset) + r*standardReplicaShift
}

// Endpoints says where each piece of infrastructure answers, and which of them the stack runs itself.
type Endpoints struct {
	DatabaseURL  string // server URL (database "postgres")
	RedisURL     string
	KafkaBrokers []string
	S3Endpoint   string
	S3AccessKey  string
	S3SecretKey  string
	S3Bucket     string
	S3Region     string
	SMTPURL      string
	MailpitURL   string // "" when SMTP is external and no MAILPIT_URL was given
	// DevOIDCURL is the issuer of the development OpenID Connect provider the stack always runs
	// itself (package oidcdev), e.g. http://127.0.0.1:9096.
	DevOIDCURL string
	// TracesURL is the trace viewer the stack always runs itself (package traceview): its
	// OTLP/HTTP receiver, which the services export to unless OTEL_EXPORTER_OTLP_ENDPOINT is set,
	// and its pages, e.g. http://127.0.0.1:4318.
	TracesURL string

	LocalPostgres, LocalRedis, LocalKafka, LocalS3, LocalMail bool
}

// endpoints resolves the options (with defaults applied) to addresses. It starts nothing, so
// `devstack env` computes exactly what `devstack infra` serves.
func (o *Options) endpoints() Endpoints {
	e := Endpoints{
		DatabaseURL:  o.DatabaseURL,
		RedisURL:     o.RedisURL,
		KafkaBrokers: o.KafkaBrokers,
		S3Endpoint:   o.S3Endpoint,
		S3AccessKey:  o.S3AccessKey,
		S3SecretKey:  o.S3SecretKey,
		S3Bucket:     o.S3Bucket,
		S3Region:     o.S3Region,
		SMTPURL:      o.SMTPURL,
		MailpitURL:   o.MailpitURL,
		DevOIDCURL:   fmt.Sprintf("http://127.0.0.1:%d", o.port(offOIDC)),
		TracesURL:    fmt.Sprintf("http://127.0.0.1:%d", o.port(offTraces)),
	}
	if e.DatabaseURL == "" {
		e.LocalPostgres = true
		e.DatabaseURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", o.port(offPostgres))
	}
	if e.RedisURL == "" {
		e.LocalRedis = true
		e.RedisURL = fmt.Sprintf("redis://127.0.0.1:%d", o.port(offRedis))
	}
	if len(e.KafkaBrokers) == 0 {
		e.LocalKafka = true
		e.KafkaBrokers = []string{fmt.Sprintf("127.0.0.1:%d", o.port(offKafka))}
	}
	if e.S3Endpoint == "" {
		e.LocalS3 = true
		e.S3Endpoint = fmt.Sprintf("http://127.0.0.1:%d", o.port(offS3))
	}
	if e.SMTPURL == "" {
		e.LocalMail = true
		e.SMTPURL = fmt.Sprintf("smtp://127.0.0.1:%d", o.port(offSMTP))
		e.MailpitURL = fmt.Sprintf("http://127.0.0.1:%d", o.port(offMailUI))
	}
	return e
}

// localPorts lists the ports the stack itself will listen on, by owner, for the pre-flight check.
func (o *Options) localPorts(e Endpoints, services []Service) []namedPort {
	var ps []namedPort
	if e.LocalPostgres {
		ps = append(ps, namedPort{"postgres", o.port(offPostgres)})
	}
	if e.LocalRedis {
		ps = append(ps, namedPort{"redis", o.port(offRedis)})
	}
	if e.LocalKafka {
		ps = append(ps, namedPort{"kafka", o.port(offKafka)})
	}
	if e.LocalS3 {
		ps = append(ps, namedPort{"s3", o.port(offS3)})
	}
	if e.LocalMail {
		ps = append(ps, namedPort{"mail (smtp)", o.port(offSMTP)}, namedPort{"mail (web)", o.port(offMailUI)})
	}
	ps = append(ps, namedPort{"oidc", o.port(offOIDC)}, namedPort{"traces", o.port(offTraces)})
	for _, s := range services {
		if o.Replicas <= 1 {
			ps = append(ps, namedPort{s.Name, o.ServicePort(s)}, namedPort{s.Name + " (admin)", o.AdminPort(s)})
			continue
		}
		ps = append(ps, namedPort{s.Name + " (balancer)", o.ServicePort(s)})
		for r := 1; r <= o.Replicas; r++ {
			name := replicaName(s.Name, r)
			ps = append(ps, namedPort{name, o.ReplicaPort(s, r)}, namedPort{name + " (admin)", o.ReplicaAdminPort(s, r)})
		}
	}
	return ps
}

type namedPort struct {
	name string
	port int
}

// describe lists the effective configuration for the start-up log, with secrets masked.
func (o *Options) describe() []any {
	ext := func(v string) string {
		if v == "" {
			return "(start locally)"
		}
		return maskURL(v)
	}
	base := "standard ports"
	if o.PortBase != 0 {
		base = strconv.Itoa(o.PortBase)
	}
	return []any{
		"root", o.Root,
		"PARLEY_DATA_DIR", o.DataDir,
		"PARLEY_PORT_BASE", base,
		"DATABASE_URL", ext(o.DatabaseURL),
		"REDIS_URL", ext(o.RedisURL),
		"KAFKA_BROKERS", ext(strings.Join(o.KafkaBrokers, ",")),
		"S3_ENDPOINT", ext(o.S3Endpoint),
		"S3_BUCKET", o.S3Bucket,
		"S3_ACCESS_KEY", o.S3AccessKey,
		"S3_SECRET_KEY", "*****",
		"SMTP_URL", ext(o.SMTPURL),
		"PARLEY_STOP_ON_CRASH", o.StopOnCrash,
		"PARLEY_NO_INSTALL", o.NoInstall,
		"PARLEY_READY_TIMEOUT", o.ReadyTimeout.String(),
		"PARLEY_REPLICAS", o.Replicas,
		"PARLEY_PG_SYNCHRONOUS_COMMIT", o.PostgresSynchronousCommit,
	}
}

// maskURL hides a password in a URL.
func maskURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "*****")
		return strings.Replace(u.String(), "%2A%2A%2A%2A%2A", "*****", 1)
	}
	return s
}

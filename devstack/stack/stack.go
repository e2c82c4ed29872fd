// Package stack runs Parley's local development stack: Postgres, Redis, a Kafka-protocol broker,
// an S3 server and a mail catcher (each taken from the environment or started here) and a
// development OpenID Connect provider, then every service as its own process, configured from
// tilt/services.json. `go run ./devstack up` is a thin command over it; end-to-end tests call
// Start directly, with a PortBase and DataDir of their own so they run beside a developer's stack.
// docs/devstack.md describes what runs where.
package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/parleyhq/parley/devstack/stack/balance"
	"github.com/parleyhq/parley/platform/config"
	"github.com/parleyhq/parley/platform/kafkaconn"
)

// Stack is a running dev stack. Close stops it.
type Stack struct {
	o       Options
	reg     *Registry
	ep      Endpoints
	log     *slog.Logger
	console *Console
	started time.Time
	ready   time.Duration

	lock      *os.File
	infra     []*process                   // processes, in start order
	stoppers  []func()                     // stop each piece of infrastructure, in start order
	services  []*runner                    // in registry order (replicas of one service together)
	balancers map[string]*balance.Balancer // by service, when Options.Replicas > 1

	kafkaMu sync.Mutex
	kafka   *kfake.Cluster // the embedded broker while it runs (see StopKafka)

	stopping chan struct{} // closed when Close begins
	wg       sync.WaitGroup
	done     chan struct{} // closed when the stack failed (Err) or was closed
	doneOnce sync.Once
	errMu    sync.Mutex
	err      error
	closeMu  sync.Mutex
	closed   bool
}

// Start brings the stack up: infrastructure in order (Postgres, Redis, Kafka, S3, SMTP, the dev
// OIDC provider), then the services, built and started together, and returns once every
// service's health path answers.
// ctx bounds the start only; the stack runs until Close. On error everything started is stopped.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	o, reg, err := opts.withRegistry()
	if err != nil {
		return nil, err
	}
	width := len("devstack")
	for _, n := range append(reg.Names(), "postgres") {
		if o.Replicas > 1 {
			n = replicaName(n, o.Replicas)
		}
		width = max(width, len(n))
	}
	console := NewConsole(o.Output, o.Color, width)
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(console.Writer("devstack"), &slog.HandlerOptions{ReplaceAttr: dropTime}))
	}
	s := &Stack{
		o:        o,
		reg:      reg,
		ep:       o.endpoints(),
		log:      logger,
		console:  console,
		started:  time.Now(),
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
	}
	if err := s.start(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	s.ready = time.Since(s.started)
	s.log.Info("stack is up", "took", s.ready.Round(100*time.Millisecond))
	return s, nil
}

func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func (s *Stack) start(ctx context.Context) error {
	o := &s.o
	s.log.Info("configuration", o.describe()...)

	selected, err := s.selectServices()
	if err != nil {
		return err
	}
	if err := checkPortsFree(o.localPorts(s.ep, selected)); err != nil {
		return err
	}
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if s.lock, err = lockDataDir(o.DataDir); err != nil {
		return err
	}
	st := &starter{o: s.o, log: s.log, console: s.console}

	if err := s.startPostgres(ctx, st); err != nil {
		return err
	}
	if err := s.startRedis(ctx, st); err != nil {
		return err
	}
	if err := s.startKafka(ctx); err != nil {
		return err
	}
	if err := s.startS3(ctx, st); err != nil {
		return err
	}
	if err := s.startMail(ctx, st); err != nil {
		return err
	}
	if err := s.startOIDC(); err != nil {
		return err
	}
	if err := s.startTraces(); err != nil {
		return err
	}
	s.log.Info("infrastructure is up", "took", time.Since(s.started).Round(100*time.Millisecond))

	if len(selected) == 0 {
		return nil
	}
	names := make([]string, len(selected))
	for i, svc := range selected {
		names[i] = svc.Name
	}
	binDir := o.ServiceBinDir
	if err := st.buildServices(ctx, binDir, names); err != nil {
		return err
	}
	for _, svc := range selected {
		env, err := o.serviceEnv(s.reg, s.ep, svc)
		if err != nil {
			return err
		}
		if _, err := o.dataDir(svc.Name); err != nil {
			return err
		}
		if o.Replicas > 1 {
			if err := s.startBalancer(svc); err != nil {
				return err
			}
		}
		for _, r := range s.runnersFor(svc, filepath.Join(binDir, svc.Name), env) {
			if err := r.start(); err != nil {
				return err
			}
			s.services = append(s.services, r)
			s.wg.Add(1)
			go r.supervise()
		}
	}
	return s.waitServices(ctx)
}

// runnersFor makes the runners of one service: one on its port, or one per replica on the
// replica's ports (the rest of the environment is the same for every replica).
func (s *Stack) runnersFor(svc Service, bin string, env []string) []*runner {
	o := &s.o
	if o.Replicas <= 1 {
		return []*runner{{
			s:    s,
			svc:  svc,
			spec: procSpec{name: svc.Name, path: bin, dir: o.Root, env: mergeEnv(o.Environ(), env), out: s.console.Writer(svc.Name)},
			url:  serviceURL(o, svc),
		}}
	}
	var out []*runner
	for i := 1; i <= o.Replicas; i++ {
		name := replicaName(svc.Name, i)
		own := mergeEnv(env, []string{
			fmt.Sprintf("LISTEN_ADDR=127.0.0.1:%d", o.ReplicaPort(svc, i)),
			fmt.Sprintf("ADMIN_ADDR=127.0.0.1:%d", o.ReplicaAdminPort(svc, i)),
		})
		out = append(out, &runner{
			s:       s,
			svc:     svc,
			replica: i,
			spec:    procSpec{name: name, path: bin, dir: o.Root, env: mergeEnv(o.Environ(), own), out: s.console.Writer(name)},
			url:     fmt.Sprintf("http://127.0.0.1:%d", o.ReplicaPort(svc, i)),
		})
	}
	return out
}

// selectServices picks the services to run: Options.Services, or every registry service written
// so far (services/<name> with a main package).
func (s *Stack) selectServices() ([]Service, error) {
	if s.o.InfraOnly {
		return nil, nil
	}
	if s.o.Services != nil {
		var out []Service
		for _, n := range s.o.Services {
			svc, ok := s.reg.Service(n)
			if !ok {
				return nil, fmt.Errorf("no service %q in %s (known: %s)", n, RegistryPath, strings.Join(s.reg.Names(), ", "))
			}
			if !serviceExists(s.o.Root, n) {
				return nil, fmt.Errorf("service %q has no main package in %s yet", n, serviceDir(s.o.Root, n))
			}
			out = append(out, svc)
		}
		return out, nil
	}
	var out, missing []Service
	for _, svc := range s.reg.Services {
		if serviceExists(s.o.Root, svc.Name) {
			out = append(out, svc)
		} else {
			missing = append(missing, svc)
		}
	}
	for _, svc := range missing {
		s.log.Info("not written yet; skipped", "service", svc.Name, "dir", serviceDir(s.o.Root, svc.Name))
	}
	return out, nil
}

func (s *Stack) addInfra(p *process) {
	s.infra = append(s.infra, p)
	s.stoppers = append(s.stoppers, func() { p.stop(s.o.StopTimeout) })
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-p.done:
			s.fail(fmt.Errorf("infrastructure stopped unexpectedly: %w", p.exitError()))
		case <-s.stopping:
		}
	}()
}

// runInfra starts a piece of infrastructure as a child process, hands it to addInfra (a crash
// fails the stack, Close stops it) and waits until ready succeeds (see waitFor).
func (s *Stack) runInfra(ctx context.Context, what string, spec procSpec, ready func(context.Context) error) error {
	p, err := startProcess(spec)
	if err != nil {
		return err
	}
	s.addInfra(p)
	return waitFor(ctx, what, p, s.o.ReadyTimeout, ready)
}

func (s *Stack) startPostgres(ctx context.Context, st *starter) error {
	if !s.ep.LocalPostgres {
		s.log.Info("postgres: using DATABASE_URL", "url", maskURL(s.ep.DatabaseURL))
		return s.createDatabases(ctx)
	}
	begin := time.Now()
	out := s.console.Writer("postgres")
	c, err := newPGCluster(ctx, st, filepath.Join(s.o.DataDir, "postgres"), s.o.port(offPostgres))
	if err != nil {
		return err
	}
	if err := c.prepare(ctx, out); err != nil {
		return err
	}
	if err := s.runInfra(ctx, "postgres at "+maskURL(c.URL()), c.spec(out), func(ctx context.Context) error { return pgAccepts(ctx, c.URL()) }); err != nil {
		return err
	}
	user := "this user"
	if c.cred != nil {
		user = "the postgres user"
	}
	s.log.Info("postgres is up", "url", c.URL(), "version", c.version, "runs as", user,
		"synchronous_commit", c.syncCommit, "took", time.Since(begin).Round(10*time.Millisecond))
	if c.hasStatStatements() {
		if err := enableStatStatements(ctx, c.URL()); err != nil {
			return err
		}
	}
	return s.createDatabases(ctx)
}

func (s *Stack) createDatabases(ctx context.Context) error {
	var names []string
	for _, svc := range s.reg.Services {
		if svc.Database != "" {
			names = append(names, svc.Database+s.o.DatabaseSuffix)
		}
	}
	return createDatabases(ctx, s.ep.DatabaseURL, names)
}

func (s *Stack) startRedis(ctx context.Context, st *starter) error {
	addr := hostPort(s.ep.RedisURL)
	if !s.ep.LocalRedis {
		s.log.Info("redis: using REDIS_URL", "url", maskURL(s.ep.RedisURL))
		return waitFor(ctx, "redis at "+addr, nil, 5*time.Second, func(ctx context.Context) error { return tcpOpen(ctx, addr) })
	}
	bin, ok := findRedis()
	if !ok {
		if err := st.install(ctx, "no redis-server on PATH", "redis-server"); err != nil {
			return fmt.Errorf("redis: %w (or set REDIS_URL)", err)
		}
		if bin, ok = findRedis(); !ok {
			return errors.New("redis: installed redis-server but cannot find it")
		}
	}
	dir, err := s.o.dataDir("redis")
	if err != nil {
		return err
	}
	if err := s.runInfra(ctx, "redis", redisSpec(bin, dir, s.o.port(offRedis), s.console.Writer("redis")), func(ctx context.Context) error { return redisPing(ctx, addr) }); err != nil {
		return err
	}
	s.log.Info("redis is up", "url", s.ep.RedisURL)
	return nil
}

func (s *Stack) startKafka(ctx context.Context) error {
	if !s.ep.LocalKafka {
		s.log.Info("kafka: using KAFKA_BROKERS", "brokers", strings.Join(s.ep.KafkaBrokers, ","))
		// The services reach it with the KAFKA_TLS… and KAFKA_SASL_… variables they inherit;
		// the stack creates the topics with the same ones.
		k, err := config.LoadFrom[config.Kafka](s.o.Environ())
		if err != nil {
			return err
		}
		opts, err := kafkaconn.Options(k)
		if err != nil {
			return fmt.Errorf("kafka at %s: %w", strings.Join(s.ep.KafkaBrokers, ","), err)
		}
		return ensureTopics(ctx, s.ep.KafkaBrokers, opts)
	}
	if err := s.StartKafka(); err != nil {
		return err
	}
	s.stoppers = append(s.stoppers, func() { _ = s.StopKafka() })
	s.log.Info("kafka is up (embedded)", "brokers", strings.Join(s.ep.KafkaBrokers, ","), "data", filepath.Join(s.o.DataDir, "kafka"))
	return nil
}

func (s *Stack) startS3(ctx context.Context, st *starter) error {
	if !s.ep.LocalS3 {
		s.log.Info("s3: using S3_ENDPOINT (the bucket must exist)", "endpoint", s.ep.S3Endpoint, "bucket", s.ep.S3Bucket)
		return nil
	}
	bin, err := st.tool(ctx, "versitygw", "github.com/versity/versitygw/cmd/versitygw")
	if err != nil {
		return err
	}
	dir, err := s.o.dataDir("s3")
	if err != nil {
		return err
	}
	metaDir := ""
	if !xattrSupported(dir) {
		if metaDir, err = s.o.dataDir("s3-meta"); err != nil {
			return err
		}
		s.log.Info("s3: no extended attributes on this file system; metadata goes to a sidecar directory", "dir", metaDir)
	}
	if err := s.runInfra(ctx, "s3", versitygwSpec(bin, dir, metaDir, s.o.port(offS3), s.ep, s.console.Writer("s3")), func(ctx context.Context) error { return httpOK(ctx, s.ep.S3Endpoint+s3HealthPath) }); err != nil {
		return err
	}
	if err := ensureBucket(ctx, s.ep); err != nil {
		return err
	}
	s.log.Info("s3 is up", "endpoint", s.ep.S3Endpoint, "bucket", s.ep.S3Bucket, "data", dir)
	return nil
}

func (s *Stack) startMail(ctx context.Context, st *starter) error {
	if !s.ep.LocalMail {
		s.log.Info("smtp: using SMTP_URL", "url", maskURL(s.ep.SMTPURL))
		return nil
	}
	bin, err := st.tool(ctx, "mailpit", "github.com/axllent/mailpit")
	if err != nil {
		return err
	}
	dir, err := s.o.dataDir("mail")
	if err != nil {
		return err
	}
	if err := s.runInfra(ctx, "mail", mailpitSpec(bin, dir, s.o.port(offSMTP), s.o.port(offMailUI), s.console.Writer("mail")), func(ctx context.Context) error {
		if err := httpOK(ctx, s.ep.MailpitURL+"/readyz"); err != nil {
			return err
		}
		return tcpOpen(ctx, hostPort(s.ep.SMTPURL))
	}); err != nil {
		return err
	}
	s.log.Info("mail is up", "smtp", s.ep.SMTPURL, "ui", s.ep.MailpitURL)
	return nil
}

// waitServices waits until every service's health path answers. A service that keeps crashing
// (or any crash under StopOnCrash) fails the start at once; otherwise the laggards are named with
// their last lines when ReadyTimeout passes.
func (s *Stack) waitServices(ctx context.Context) error {
	deadline := time.Now().Add(s.o.ReadyTimeout)
	pending := slices.Clone(s.services)
	for {
		var still []*runner
		for _, r := range pending {
			if err := r.startupFailure(); err != nil {
				return err
			}
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			err := httpOK(cctx, r.url+r.svc.Health)
			cancel()
			if err != nil {
				r.setLastErr(err)
				still = append(still, r)
				continue
			}
			s.log.Info("service is healthy", "service", r.spec.name, "url", r.url, "after", time.Since(r.firstStart).Round(10*time.Millisecond))
		}
		pending = still
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-s.done:
			return s.Err()
		default:
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, r := range pending {
				fmt.Fprintf(&b, "\n%s (%s%s) is not healthy after %s: %v%s; its last lines:\n%s",
					r.spec.name, r.url, r.svc.Health, s.o.ReadyTimeout, r.getLastErr(), r.crashNote(), tailText(r.spec.out))
			}
			return fmt.Errorf("services not ready (raise PARLEY_READY_TIMEOUT if they are just slow):%s", b.String())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// fail records the first failure and marks the stack done; the owner should Close it.
func (s *Stack) fail(err error) {
	s.errMu.Lock()
	if s.err == nil {
		s.err = err
		s.log.Error("stack failed", "err", err)
	}
	s.errMu.Unlock()
	s.doneOnce.Do(func() { close(s.done) })
}

// Done is closed when the stack fails (a piece of infrastructure stops, or a service crashes under
// StopOnCrash) or is closed. Err says why.
func (s *Stack) Done() <-chan struct{} { return s.done }

// Err is the failure that closed Done, or nil.
func (s *Stack) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// Close stops the services (all at once, each with SIGTERM, killed after StopTimeout), then the
// infrastructure in reverse start order. The data directory keeps everything for the next start.
// It is safe to call more than once.
func (s *Stack) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.stopping)
	begin := time.Now()

	var wg sync.WaitGroup
	for _, r := range s.services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.stop()
		}()
	}
	wg.Wait()
	for _, b := range s.balancers {
		b.Close()
	}
	for i := len(s.stoppers) - 1; i >= 0; i-- {
		s.stoppers[i]()
	}
	s.wg.Wait()
	if s.lock != nil {
		s.lock.Close()
	}
	if len(s.services)+len(s.stoppers) > 0 {
		s.log.Info("stopped", "took", time.Since(begin).Round(10*time.Millisecond))
	}
	s.doneOnce.Do(func() { close(s.done) })
	return nil
}

// --- where things are --------------------------------------------------------------------------

// Endpoints says where each piece of infrastructure answers.
func (s *Stack) Endpoints() Endpoints { return s.ep }

// GatewayURL is the public entry point, e.g. http://127.0.0.1:8080.
func (s *Stack) GatewayURL() string { return s.ServiceURL("gateway") }

// ServiceURL is where service name listens (whether or not this stack runs it); "" if unknown.
func (s *Stack) ServiceURL(name string) string {
	svc, ok := s.reg.Service(name)
	if !ok {
		return ""
	}
	return serviceURL(&s.o, svc)
}

// DatabaseURL is the Postgres server URL.
func (s *Stack) DatabaseURL() string { return s.ep.DatabaseURL }

// ServiceDatabaseURL is the URL of service name's own database; "" if it has none.
func (s *Stack) ServiceDatabaseURL(name string) string {
	svc, ok := s.reg.Service(name)
	if !ok || svc.Database == "" {
		return ""
	}
	u, _ := withDatabase(s.ep.DatabaseURL, svc.Database+s.o.DatabaseSuffix)
	return u
}

// RedisURL is the Redis URL.
func (s *Stack) RedisURL() string { return s.ep.RedisURL }

// KafkaBrokers are the broker addresses.
func (s *Stack) KafkaBrokers() []string { return slices.Clone(s.ep.KafkaBrokers) }

// S3Endpoint is the S3 endpoint URL (credentials and bucket in Endpoints).
func (s *Stack) S3Endpoint() string { return s.ep.S3Endpoint }

// DevOIDCURL is the issuer URL of the development OpenID Connect provider ("sign in with Dev").
func (s *Stack) DevOIDCURL() string { return s.ep.DevOIDCURL }

// SMTPURL is the SMTP server URL.
func (s *Stack) SMTPURL() string { return s.ep.SMTPURL }

// MailpitURL is the mail catcher's web UI and API (e.g. GET /api/v1/messages); "" with an external
// SMTP server and no MAILPIT_URL.
func (s *Stack) MailpitURL() string { return s.ep.MailpitURL }

// Options are the stack's effective options, defaults filled in (for Env or Status, say).
func (s *Stack) Options() Options { return s.o }

// DataDir is where the stack keeps its data.
func (s *Stack) DataDir() string { return s.o.DataDir }

// ServiceBinary is the path of the service's binary, as the stack built and runs it.
func (s *Stack) ServiceBinary(name string) string { return filepath.Join(s.o.ServiceBinDir, name) }

// Services lists the services this stack runs (each once, however many replicas it has).
func (s *Stack) Services() []string {
	var out []string
	for _, r := range s.services {
		if !slices.Contains(out, r.svc.Name) {
			out = append(out, r.svc.Name)
		}
	}
	return out
}

// Env is the environment the stack gives service name (KEY=VALUE, sorted).
func (s *Stack) Env(name string) ([]string, error) {
	svc, ok := s.reg.Service(name)
	if !ok {
		return nil, fmt.Errorf("no service %q", name)
	}
	return s.o.serviceEnv(s.reg, s.ep, svc)
}

// Summary describes what runs where, for a person.
func (s *Stack) Summary() string {
	type line struct{ name, where, note string }
	var rows []line
	for _, r := range s.services {
		if r.replica > 1 {
			continue // said on the first replica's line
		}
		note := ""
		switch {
		case r.svc.Name == "gateway":
			if app := appURL(r.spec.env, s.o.ServicePort(r.svc)); app != "" {
				rows = append(rows, line{"web app", app, "<- open this"})
				note = "API at /api"
			} else {
				note = "<- the API; no web app built (make web)"
			}
		case r.svc.Database != "":
			note = "database " + r.svc.Database + s.o.DatabaseSuffix
		}
		url := r.url
		if r.replica == 1 {
			url = serviceURL(&s.o, r.svc)
			note = strings.TrimPrefix(note+"; ", "; ") + s.replicasNote(r.svc)
		}
		rows = append(rows, line{r.svc.Name, url, note})
	}
	if len(rows) > 0 {
		rows = append(rows, line{})
	}
	origin := func(local bool, what string) string {
		if local {
			return what
		}
		return "yours"
	}
	rows = append(rows,
		line{"postgres", maskURL(s.ep.DatabaseURL), origin(s.ep.LocalPostgres, "data in "+filepath.Join(s.o.DataDir, "postgres"))},
		line{"redis", maskURL(s.ep.RedisURL), origin(s.ep.LocalRedis, "data in "+filepath.Join(s.o.DataDir, "redis"))},
		line{"kafka", strings.Join(s.ep.KafkaBrokers, ","), origin(s.ep.LocalKafka, "embedded, data in "+filepath.Join(s.o.DataDir, "kafka"))},
		line{"s3", s.ep.S3Endpoint, origin(s.ep.LocalS3, fmt.Sprintf("bucket %s, key %s / %s", s.ep.S3Bucket, s.ep.S3AccessKey, s.ep.S3SecretKey))},
		line{"smtp", maskURL(s.ep.SMTPURL), origin(s.ep.LocalMail, "mailpit, any login accepted")},
	)
	if s.ep.MailpitURL != "" {
		rows = append(rows, line{"mail UI", s.ep.MailpitURL, "the mail the services send"})
	}
	rows = append(rows, line{"oidc", s.ep.DevOIDCURL, `"sign in with Dev": any email, no password (development only)`})
	rows = append(rows, line{"traces", s.ep.TracesURL, "the services' recent traces (OTLP/HTTP receiver and viewer)"})
	width := 0
	for _, r := range rows {
		width = max(width, len(r.where))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nParley dev stack is up (%s).\n\n", s.ready.Round(100*time.Millisecond))
	for _, r := range rows {
		if r.name == "" {
			b.WriteString("\n")
			continue
		}
		fmt.Fprintf(&b, "  %-13s %-*s  %s\n", r.name, width, r.where, r.note)
	}
	return b.String()
}

// appURL is where a person opens the web app that a gateway started with env serves, reached at
// gatewayPort (its own, or with replicas the balancer's, wherever PARLEY_PORT_BASE put it),
// when its WEB_DIR holds a build, else "". localhost rather than 127.0.0.1: passkeys and the dev
// sign-in's redirect are set up for it.
func appURL(env []string, gatewayPort int) string {
	dir, _ := lookupEnv(env, "WEB_DIR")
	if dir == "" || !pathExists(filepath.Join(dir, "index.html")) {
		return ""
	}
	return fmt.Sprintf("http://localhost:%d/", gatewayPort)
}

// --- helpers -----------------------------------------------------------------------------------

// checkPortsFree fails before anything starts when a port the stack needs is taken, which usually
// means another stack (make up, tilt up, a test) is running.
func checkPortsFree(ports []namedPort) error {
	var busy []string
	for _, p := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p.port))
		if err != nil {
			busy = append(busy, fmt.Sprintf("%d (%s)", p.port, p.name))
			continue
		}
		ln.Close()
	}
	if len(busy) > 0 {
		return fmt.Errorf("ports in use: %s. Is another dev stack (make up, tilt up) running? Stop it, or move this one with PARLEY_PORT_BASE (e.g. 20000)", strings.Join(busy, ", "))
	}
	return nil
}

// lockDataDir takes an exclusive lock on the data directory, so two stacks never share one.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "devstack.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another dev stack (pid %s) is using %s: stop it, or give this one its own PARLEY_DATA_DIR", lockHolder(path), dir)
	}
	writeLockHolder(f)
	return f, nil
}

// writeLockHolder writes this process's pid into the lock file it has just locked, for
// lockHolder to name it to a process that finds the lock taken.
func writeLockHolder(f *os.File) {
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
}

// lockHolder is the pid writeLockHolder left in the lock file at path ("" when unreadable).
func lockHolder(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// portReservations holds, for the life of the process, a lock file per block of reserveBlock
// ports FreePortBase has handed out (a base takes the blocks its PortSpan covers), so concurrent
// test processes (go test runs packages in parallel) never pick overlapping ranges between
// choosing them and binding their ports.
var portReservations = struct {
	sync.Mutex
	files map[int]*os.File // by the first port of the block
}{files: map[int]*os.File{}}

// reserveBlock is the granularity of FreePortBase's bases and locks.
const reserveBlock = 100

// FreePortBase finds a base for Options.PortBase whose PortSpan ports are free, for tests. The base
// stays reserved against every other caller of FreePortBase, in this process or another, until
// this process exits. (A program that does not use FreePortBase may still take a port; the start
// then fails clearly.)
func FreePortBase() (int, error) {
	portReservations.Lock()
	defer portReservations.Unlock()
	// Below Linux's ephemeral range (32768-60999), so outgoing connections do not take them; a
	// round number reads better in logs. Every candidate is tried once, in random order.
	const first, limit = 10000, 32768
	candidates := (limit - first - PortSpan) / reserveBlock
	for _, n := range rand.Perm(candidates + 1) {
		base := first + n*reserveBlock
		locks, ok := lockBlocks(base)
		if !ok {
			continue
		}
		var ports []namedPort
		for i := range PortSpan {
			ports = append(ports, namedPort{"", base + i})
		}
		if checkPortsFree(ports) != nil {
			for _, f := range locks {
				f.Close()
			}
			continue
		}
		for i, f := range locks {
			portReservations.files[base+i*reserveBlock] = f
		}
		return base, nil
	}
	return 0, errors.New("no free range of ports found")
}

// lockBlocks takes the lock of every block of the span from base, all or none (portReservations
// held).
func lockBlocks(base int) ([]*os.File, bool) {
	var locks []*os.File
	release := func() {
		for _, f := range locks {
			f.Close()
		}
	}
	for b := base; b < base+PortSpan; b += reserveBlock {
		if _, mine := portReservations.files[b]; mine {
			release()
			return nil, false
		}
		f, err := os.OpenFile(filepath.Join(os.TempDir(), fmt.Sprintf("parley-devstack-ports-%d.lock", b)), os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			release()
			return nil, false
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close() // another process has it
			release()
			return nil, false
		}
		locks = append(locks, f)
	}
	return locks, true
}

// Package startup is the start-up every Parley service with a database shares: its command line
// (serve, or `migrate`), its configuration (loaded, logged, validated), telemetry, its database
// and migrations, its Kafka options, its server with the admin listener and the database's
// readiness check, the access-token check on its Connect handlers, its outbox relay and event consumers, and the run until the context ends
// followed by the shutdown in order. Use it for such a service: its main.go calls Main with the
// Service its run.go declares (`service()`: its name, configuration and migrations, and a Wire
// function that builds its own stores, use cases, handlers and consumers on the Process Run has
// opened); its tests call Run on a listener of their own. A process without a database (the
// gateway) does not use it.
package startup

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net"

	"github.com/parleyhq/parley/platform/config"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/kafkaconn"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/platform/telemetry"
)

// checksTokens is a Config that embeds config.AuthJWKS: its service checks access tokens.
type checksTokens interface{ AuthJWKSVars() config.AuthJWKS }

// Service is what Run needs to know about a service besides its wiring.
type Service[C config.ServiceConfig] struct {
	// Name is the service's name ("friend"): the usage line's, telemetry's service, the outbox's
	// event source and the component its migrations are recorded under.
	Name string
	// Defaults is the Config the environment is loaded over (config.Start): the service's
	// `defaults` value, which holds its port and database.
	Defaults C
	// Validate is the service's `Config.validate`, called by config.Start after the configuration
	// line is logged, with the shared variables' checks.
	Validate func(C) error
	// MigrateUnchecked skips the validation, the shared variables' checks included, for
	// `<name> migrate`, which then needs nothing the validation asks for (media: S3 credentials).
	MigrateUnchecked bool
	// Migrations are the service's own (<svc>db.Migrations), applied after the outbox and inbox
	// tables' at every start and by `<name> migrate`.
	Migrations fs.FS
	// PublicProcedures, for a service whose Config embeds config.AuthJWKS, are the procedures
	// that pass without an access token (<svc>rpc.PublicProcedures): every other call to a
	// handler mounted with p.HandlerOptions() needs one, checked against AUTH_JWKS_URL's keys,
	// which are fetched before Wire (the readiness check "auth keys").
	PublicProcedures []string
	// Prepare, when set, parses and refuses what the service needs to serve before anything
	// connects (keys, addresses, URLs), so that a bad value fails at once, not after
	// DATABASE_WAIT. It may adjust the configuration it is given (chat sets its pool size in
	// DATABASE_URL). Its errors name the variable; Run returns them as `configuration: …`, as it
	// does the validation's. It is not called for `<name> migrate`, which needs only the database.
	Prepare func(cfg *C, logger *slog.Logger) error
	// Wire builds the service on p before it serves: stores, use cases, handlers mounted on
	// p.Server, consumers (p.Consumer) and background work (p.Go). ctx ends when the service
	// stops.
	Wire func(ctx context.Context, p *Process[C]) error
}

// Parsed is a Prepare and a Wire for a service whose wiring uses what it parses before connecting
// (auth's keys, notification's mail settings): the Prepare calls parse and keeps its result, the
// Wire hands it to wire.
//
//	s.Prepare, s.Wire = startup.Parsed(parse, wire)
func Parsed[C config.ServiceConfig, P any](
	parse func(cfg C, logger *slog.Logger) (P, error), wire func(ctx context.Context, p *Process[C], parsed P) error,
) (prepare func(cfg *C, logger *slog.Logger) error, w func(ctx context.Context, p *Process[C]) error) {
	var parsed P
	prepare = func(cfg *C, logger *slog.Logger) (err error) {
		parsed, err = parse(*cfg, logger)
		return err
	}
	return prepare, func(ctx context.Context, p *Process[C]) error { return wire(ctx, p, parsed) }
}

// Main is the whole of a service's main function: `func main() { startup.Main(service()) }`
// (server.Main with Run, serving on LISTEN_ADDR).
func Main[C config.ServiceConfig](s Service[C]) {
	server.Main(s.Name, func(ctx context.Context, logger *slog.Logger, args []string) error {
		return Run(ctx, logger, args, nil, s)
	})
}

// Run starts the service s describes and serves until ctx ends; with args ["migrate"] it applies
// the migrations and returns. ln, when not nil, is the public listener, already open (tests
// listen on port 0).
//
// In order: the command line (server.MigrateOnly); the configuration (config.Start with
// s.Defaults and s.Validate); s.Prepare; telemetry (telemetry.Start); the database, waited for
// up to DATABASE_WAIT and migrated (events.OpenDatabase) — where `migrate` logs "migrations
// applied" and returns; the Kafka options (kafkaconn.Options: the files KAFKA_TLS_CA_FILE and
// KAFKA_SASL_PASSWORD_FILE name are read here, not for `migrate`, which has no Kafka client);
// the server and the outbox; the access-token check (Service.PublicProcedures); s.Wire; the
// outbox relay. Then it serves with the relay, the consumers and the background work
// (server.Server.RunWith): the first to fail stops the rest, and an ending context is not an
// error. On the way out it closes what Wire opened through p (Redis), then the database, then
// telemetry (flushing spans).
func Run[C config.ServiceConfig](ctx context.Context, logger *slog.Logger, args []string, ln net.Listener, s Service[C]) error {
	if _, ok := any(s.Defaults).(checksTokens); !ok && s.PublicProcedures != nil {
		return fmt.Errorf("%s: PublicProcedures need a Config that checks access tokens (config.AuthJWKS)", s.Name)
	}
	migrateOnly, err := server.MigrateOnly(s.Name, args)
	if err != nil {
		return err
	}
	validate := s.Validate
	if migrateOnly && s.MigrateUnchecked {
		validate = nil
	}
	cfg, err := config.Start(logger, s.Defaults, validate)
	if err != nil {
		return err
	}
	if s.Prepare != nil && !migrateOnly {
		if err := s.Prepare(&cfg, logger); err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
	}

	tel, err := telemetry.Start(ctx, logger, s.Name)
	if err != nil {
		return err
	}
	defer tel.Shutdown()
	db := cfg.ServiceVars()
	pool, err := events.OpenDatabase(ctx, db.DatabaseURL, db.DatabaseWait, s.Name, s.Migrations, tel)
	if err != nil {
		return err
	}
	defer pool.Close()
	if migrateOnly {
		logger.Info("migrations applied")
		return nil
	}

	shared := cfg.CommonVars()
	kafkaOpts, err := kafkaconn.Options(shared.Kafka)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	p := &Process[C]{
		Config: cfg, Logger: logger, Telemetry: tel, Pool: pool,
		Outbox: events.NewOutbox(s.Name),
		Server: server.New(logger, db.ListenAddr),
		Relay: events.RelayConfig{
			Pool: pool, Brokers: shared.KafkaBrokers, ClientOpts: kafkaOpts, Logger: logger, Telemetry: tel,
		},
		kafkaOpts: kafkaOpts,
	}
	defer p.close()
	p.Outbox.Headers = tel.TraceHeaders
	p.Server.ShutdownTimeout = db.ShutdownTimeout
	p.Server.AdminAddr = shared.AdminAddr
	p.Server.Telemetry = tel
	p.Server.AddReadinessCheck("database", pool.Ping)
	if jwks, ok := any(cfg).(checksTokens); ok {
		if p.auth, err = p.authenticate(ctx, jwks.AuthJWKSVars().AuthJWKSURL, s.PublicProcedures); err != nil {
			return err
		}
	}

	if err := s.Wire(ctx, p); err != nil {
		return err
	}
	relay, err := events.NewRelay(p.Relay)
	if err != nil {
		return err
	}
	return p.Server.RunWith(ctx, ln, append([]func(context.Context) error{relay.Run}, p.workers...)...)
}

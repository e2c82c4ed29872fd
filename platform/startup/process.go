package startup

import (
	"context"
	"log/slog"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/rueidis"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/config"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/redisconn"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/platform/telemetry"
)

// Process is a service Run has opened, handed to its Wire function.
type Process[C config.ServiceConfig] struct {
	Config    C
	Logger    *slog.Logger
	Telemetry *telemetry.Telemetry
	// Pool is the service's database, migrated.
	Pool *pgxpool.Pool
	// Outbox is the service's outbox (events.NewOutbox(Name)), its events carrying the trace
	// context (Headers: Telemetry.TraceHeaders).
	Outbox *events.Outbox
	// Server serves on LISTEN_ADDR (or the listener given to Run), with the admin listener on
	// ADMIN_ADDR serving /metrics, and the readiness checks "database" (the pool's ping) and,
	// for a Config embedding config.AuthJWKS, "auth keys".
	Server *server.Server
	// Relay is the outbox relay's configuration (pool, brokers, Kafka options, logger,
	// telemetry), which Wire may adjust; Run starts the relay once Wire has returned.
	Relay events.RelayConfig

	auth      connect.Interceptor
	kafkaOpts []kgo.Opt
	workers   []func(context.Context) error
	closers   []func()
}

// Redis opens the Redis client of REDIS_URL (redisconn.Open, whose errors name the variable),
// its commands traced (telemetry.Redis), closed when Run returns.
func (p *Process[C]) Redis(redisURL string, configure ...func(*rueidis.ClientOption)) (rueidis.Client, error) {
	client, err := redisconn.Open(redisURL, configure...)
	if err != nil {
		return nil, err
	}
	p.closers = append(p.closers, client.Close)
	return p.Telemetry.Redis(client), nil
}

// authenticate returns the interceptor that checks access tokens against the auth service's keys
// at jwksURL (AUTH_JWKS_URL) with JWT_ISSUER and JWT_AUDIENCE; public procedures pass without
// one. It adds the readiness check "auth keys": the keys before traffic (authn.RemoteJWKS.Ready).
func (p *Process[C]) authenticate(ctx context.Context, jwksURL string, public []string) (connect.Interceptor, error) {
	keys, err := authn.NewRemoteJWKS(ctx, jwksURL, nil)
	if err != nil {
		return nil, err
	}
	shared := p.Config.CommonVars()
	p.Server.AddReadinessCheck("auth keys", keys.Ready)
	return authn.NewInterceptor(authn.NewVerifier(keys, shared.JWTIssuer, shared.JWTAudience), public...), nil
}

// HandlerOptions are the options of the service's Connect handlers: server.HandlerOptions with
// the telemetry's interceptor, then, for a service whose Config embeds config.AuthJWKS, the one
// that checks access tokens (Service.PublicProcedures pass without one).
func (p *Process[C]) HandlerOptions() []connect.HandlerOption {
	interceptors := []connect.Interceptor{p.Telemetry.ServerInterceptor()}
	if p.auth != nil {
		interceptors = append(interceptors, p.auth)
	}
	return server.HandlerOptions(p.Logger, nil, interceptors...)
}

// PeerClient is the HTTP client for calls to other Parley services (h2c), traced.
func (p *Process[C]) PeerClient() connect.HTTPClient {
	return p.Telemetry.HTTPClient(server.H2CClient())
}

// Consumer builds the event consumer of group reading topics, with the service's brokers, Kafka
// options, database, logger and telemetry, and runs it with the service. tune, when given,
// adjusts the rest of its configuration (fetch sizes, retries: events.ConsumerConfig).
func (p *Process[C]) Consumer(group string, topics []string, tune ...func(*events.ConsumerConfig)) (*events.Consumer, error) {
	cfg := events.ConsumerConfig{
		Brokers: p.Config.CommonVars().KafkaBrokers, ClientOpts: p.kafkaOpts, Group: group, Topics: topics,
		Pool: p.Pool, Logger: p.Logger, Telemetry: p.Telemetry,
	}
	for _, f := range tune {
		f(&cfg)
	}
	consumer, err := events.NewConsumer(cfg)
	if err != nil {
		return nil, err
	}
	p.Go(consumer.Run)
	return consumer, nil
}

// Go runs work with the service, until ctx ends: an error stops the service (see
// server.Server.RunWith); returning nil simply ends it.
func (p *Process[C]) Go(work func(ctx context.Context) error) {
	p.workers = append(p.workers, work)
}

// Every runs work with the service at once, then every interval until ctx ends (a periodic
// clean-up); an interval of 0 or less turns it off. work reports its own failures (a failed round
// does not stop the service) and should return soon once ctx ends.
func (p *Process[C]) Every(interval time.Duration, work func(ctx context.Context)) {
	if interval <= 0 {
		return
	}
	p.Go(func(ctx context.Context) error {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			work(ctx)
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
}

func (p *Process[C]) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
}

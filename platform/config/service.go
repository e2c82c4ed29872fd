package config

import (
	"errors"
	"strconv"
	"time"
)

// Service is the variables of a Parley service with a public port and a Postgres database (every
// service but the gateway). A service's Config embeds it right after Common; its two defaults that
// differ between services, the port and the database, come from ServiceDefaults, the rest from the
// tags here. The table of ports and databases is in docs/service-conventions.md.
type Service struct {
	// ListenAddr is the public port: Connect, gRPC, gRPC-Web, health, reflection.
	ListenAddr string `env:"LISTEN_ADDR"`
	// DatabaseURL is the service's own database (events.OpenDatabase); its password is masked in
	// the configuration line.
	DatabaseURL string `env:"DATABASE_URL"`
	// DatabaseWait is how long start-up waits for Postgres.
	DatabaseWait time.Duration `env:"DATABASE_WAIT" envDefault:"30s"`
	// ShutdownTimeout bounds how long in-flight requests may finish once the service is told to
	// stop (server.Server.ShutdownTimeout).
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s"`
}

// ServiceDefaults is the defaults of the service called name listening on port: LISTEN_ADDR
// ":<port>" and DATABASE_URL the database parley_<name> on the local Postgres. A service's
// config.go passes them to Start as its defaults value:
//
//	var defaults = Config{Service: config.ServiceDefaults("friend", 8083)}
func ServiceDefaults(name string, port int) Service {
	return Service{
		ListenAddr:  ":" + strconv.Itoa(port),
		DatabaseURL: "postgres://postgres@127.0.0.1:5432/parley_" + name + "?sslmode=disable",
	}
}

// ServiceConfig is a service's Config, which embeds Common and Service: their two methods below
// are promoted to it, so that Start finds the shared variables without the service passing them,
// and platform/startup takes any service's Config (startup.Run[C config.ServiceConfig]).
type ServiceConfig interface {
	CommonVars() Common
	ServiceVars() Service
}

// CommonVars is the Common a Config embeds.
func (c Common) CommonVars() Common { return c }

// ServiceVars is the Service a Config embeds.
func (s Service) ServiceVars() Service { return s }

// checkService refuses the shared variables' values that no process can run with, so that no
// service's validate repeats them: the Kafka TLS and SASL variables of every Config that embeds
// Common (Kafka.Check); and, since every service publishes its events through its outbox relay,
// an empty KAFKA_BROKERS (the gateway, which runs without Kafka, embeds no Service).
func checkService(cfg any) error {
	c, ok := cfg.(interface{ CommonVars() Common })
	if !ok {
		return nil
	}
	var errs []error
	if err := c.CommonVars().Check(); err != nil {
		errs = append(errs, err)
	}
	if _, ok := cfg.(ServiceConfig); ok && len(c.CommonVars().KafkaBrokers) == 0 {
		errs = append(errs, errors.New("KAFKA_BROKERS: at least one broker address is required"))
	}
	return errors.Join(errs...)
}

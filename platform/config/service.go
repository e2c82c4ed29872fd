package config

import (
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

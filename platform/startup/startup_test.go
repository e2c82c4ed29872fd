package startup_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/config"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/logtest"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/platform/startup"
	"github.com/parleyhq/parley/platform/waittest"
)

// testConfig is a service's Config as config.go declares one.
type testConfig struct {
	config.Common
	config.Service
	config.Redis
	Limit int `env:"STARTUP_TEST_LIMIT" envDefault:"1"`
}

var migrations = fstest.MapFS{"0001_things.sql": {Data: []byte("CREATE TABLE things (id int);")}}

func refuseLimit(c testConfig) error {
	if c.Limit < 0 {
		return errors.New("STARTUP_TEST_LIMIT: must not be negative")
	}
	return nil
}

// spec is a Service whose Prepare and Wire fail the test: Run must not get that far.
func spec(t *testing.T) startup.Service[testConfig] {
	return startup.Service[testConfig]{
		Name: "thing", Defaults: testConfig{Service: config.ServiceDefaults("thing", 1)}, Validate: refuseLimit,
		Migrations: migrations,
		Prepare: func(*testConfig, *slog.Logger) error {
			t.Error("Prepare called")
			return nil
		},
		Wire: func(context.Context, *startup.Process[testConfig]) error {
			t.Error("Wire called")
			return nil
		},
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestRunRefusesUnknownArguments(t *testing.T) {
	err := startup.Run(context.Background(), quiet(), []string{"bogus"}, nil, spec(t))
	if err == nil || !strings.Contains(err.Error(), "usage: thing [migrate]") {
		t.Fatalf("err = %v", err)
	}
}

// A refused value, the service's or a shared one, stops the start-up before anything connects
// (DATABASE_URL names no server here, and DATABASE_WAIT would keep a connecting Run for a minute),
// and so does a refusal of Prepare, in the same words.
func TestRunRefusesBeforeConnecting(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none?sslmode=disable")
	t.Setenv("DATABASE_WAIT", "1m")
	t.Setenv("STARTUP_TEST_LIMIT", "-1")
	t.Setenv("KAFKA_BROKERS", ",")
	start := time.Now()
	err := startup.Run(context.Background(), quiet(), nil, nil, spec(t))
	want := "configuration: KAFKA_BROKERS: at least one broker address is required\nSTARTUP_TEST_LIMIT: must not be negative"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}

	t.Setenv("STARTUP_TEST_LIMIT", "1")
	t.Setenv("KAFKA_BROKERS", "127.0.0.1:1")
	s := spec(t)
	s.Prepare = func(cfg *testConfig, _ *slog.Logger) error { return errors.New("THING_KEY_FILE: no such file") }
	if err := startup.Run(context.Background(), quiet(), nil, nil, s); err == nil || err.Error() != "configuration: THING_KEY_FILE: no such file" {
		t.Fatalf("Prepare's refusal: err = %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the refusals took %v: Run connected first", d)
	}
}

// `thing migrate` applies the migrations and returns without Prepare or Wire; with
// MigrateUnchecked it does so whatever the validation would say.
func TestRunMigrate(t *testing.T) {
	pool := pgtest.New(t) // an empty database: Run applies the migrations
	t.Setenv("DATABASE_URL", pgtest.URL(t, pool))
	var logs logtest.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	if err := startup.Run(context.Background(), logger, []string{"migrate"}, nil, spec(t)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "msg=\"migrations applied\"") {
		t.Fatalf("logs = %q", logs.String())
	}
	if _, err := pool.Exec(context.Background(), "INSERT INTO things VALUES (1)"); err != nil {
		t.Fatalf("the service's migrations were not applied: %v", err)
	}
	if _, err := pool.Exec(context.Background(), "SELECT count(*) FROM outbox"); err != nil {
		t.Fatalf("the outbox's migrations were not applied: %v", err)
	}

	t.Setenv("STARTUP_TEST_LIMIT", "-1")
	if err := startup.Run(context.Background(), quiet(), []string{"migrate"}, nil, spec(t)); err == nil {
		t.Fatal("migrate ran with a refused configuration")
	}
	s := spec(t)
	s.MigrateUnchecked = true
	if err := startup.Run(context.Background(), quiet(), []string{"migrate"}, nil, s); err != nil {
		t.Fatalf("MigrateUnchecked: %v", err)
	}
}

// PublicProcedures are refused for a service whose Config checks no access tokens: they would
// say which procedures pass without one where every procedure passes.
func TestRunRefusesPublicProceduresWithoutTokenChecks(t *testing.T) {
	s := spec(t)
	s.PublicProcedures = []string{"/test.v1.Things/Public"}
	err := startup.Run(context.Background(), quiet(), nil, nil, s)
	if err == nil || !strings.Contains(err.Error(), "thing: PublicProcedures need a Config that checks access tokens") {
		t.Fatalf("err = %v", err)
	}
}

// Run prepares, wires and serves until its context ends: the server with its readiness checks,
// the background work until the end, and on the way out what Wire opened is closed.
func TestRunServesUntilTheContextEnds(t *testing.T) {
	pool := pgtest.New(t)
	_, brokers := kafkatest.New(t)
	t.Setenv("DATABASE_URL", pgtest.URL(t, pool))
	t.Setenv("KAFKA_BROKERS", brokers[0])
	t.Setenv("REDIS_URL", "redis://"+redistest.Addr())
	t.Setenv("SHUTDOWN_TIMEOUT", "3s")
	t.Setenv("STARTUP_TEST_LIMIT", "7")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	var process *startup.Process[testConfig]
	var rounds atomic.Int32
	workEnded := make(chan struct{})
	s := spec(t)
	s.Prepare = func(cfg *testConfig, _ *slog.Logger) error {
		cfg.Limit *= 2
		return nil
	}
	s.Wire = func(ctx context.Context, p *startup.Process[testConfig]) error {
		process = p
		if p.Config.Limit != 14 {
			t.Errorf("Wire's Limit = %d, want Prepare's 14", p.Config.Limit)
		}
		if p.Server.ShutdownTimeout != 3*time.Second {
			t.Errorf("ShutdownTimeout = %v, want SHUTDOWN_TIMEOUT", p.Server.ShutdownTimeout)
		}
		if p.Outbox == nil || p.Outbox.Headers == nil || p.Relay.Pool != p.Pool || len(p.Relay.Brokers) != 1 {
			t.Errorf("outbox %+v, relay %+v", p.Outbox, p.Relay)
		}
		if _, err := p.Redis(p.Config.RedisURL); err != nil {
			return err
		}
		p.Go(func(ctx context.Context) error {
			<-ctx.Done()
			close(workEnded)
			return nil
		})
		p.Every(10*time.Millisecond, func(context.Context) { rounds.Add(1) })
		p.Every(0, func(context.Context) { t.Error("Every(0, …) ran") })
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- startup.Run(ctx, quiet(), nil, ln, s) }()
	waittest.Ready(t, "http://"+ln.Addr().String(), done)
	waittest.Until(t, "periodic work to run again", func() bool { return rounds.Load() >= 3 })

	cancel()
	waittest.Stopped(t, done)
	select {
	case <-workEnded:
	default:
		t.Fatal("the background work did not see the end")
	}
	if err := process.Pool.Ping(context.Background()); err == nil {
		t.Fatal("the database is still open")
	}
}

// Background work that fails stops the service, and Run returns its error.
func TestRunStopsWhenWorkFails(t *testing.T) {
	pool := pgtest.New(t)
	_, brokers := kafkatest.New(t)
	t.Setenv("DATABASE_URL", pgtest.URL(t, pool))
	t.Setenv("KAFKA_BROKERS", brokers[0])
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := spec(t)
	s.Prepare = nil
	s.Wire = func(ctx context.Context, p *startup.Process[testConfig]) error {
		p.Go(func(context.Context) error { return errors.New("janitor: broken") })
		return nil
	}
	if err := startup.Run(context.Background(), quiet(), nil, ln, s); err == nil || err.Error() != "janitor: broken" {
		t.Fatalf("err = %v", err)
	}
}

// Parsed's Wire gets what its Prepare parsed, and a refusal of parse is Prepare's.
func TestParsed(t *testing.T) {
	parse := func(cfg testConfig, _ *slog.Logger) (string, error) {
		if cfg.Limit < 0 {
			return "", errors.New("STARTUP_TEST_LIMIT: must not be negative")
		}
		return "limit " + strconv.Itoa(cfg.Limit), nil
	}
	var got string
	prepare, wire := startup.Parsed(parse, func(_ context.Context, _ *startup.Process[testConfig], parsed string) error {
		got = parsed
		return nil
	})
	if err := prepare(&testConfig{Limit: 3}, quiet()); err != nil {
		t.Fatal(err)
	}
	if err := wire(context.Background(), nil); err != nil || got != "limit 3" {
		t.Fatalf("wire got %q, %v", got, err)
	}
	if err := prepare(&testConfig{Limit: -1}, quiet()); err == nil || !strings.Contains(err.Error(), "STARTUP_TEST_LIMIT") {
		t.Fatalf("refusal: %v", err)
	}
}

// authConfig is the Config of a service that checks access tokens: it embeds config.AuthJWKS.
type authConfig struct {
	config.Common
	config.Service
	config.AuthJWKS
}

// A service whose Config embeds config.AuthJWKS gets its tokens checked on every handler mounted
// with p.HandlerOptions(): a call without a valid token is refused, one with a token passes with
// its user, and the service's PublicProcedures pass without one.
func TestRunChecksAccessTokens(t *testing.T) {
	pool := pgtest.New(t)
	_, brokers := kafkatest.New(t)
	issuer := authntest.New(t)
	t.Setenv("DATABASE_URL", pgtest.URL(t, pool))
	t.Setenv("KAFKA_BROKERS", brokers[0])
	t.Setenv("AUTH_JWKS_URL", issuer.JWKSURL())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const private, public = "/test.v1.Things/Private", "/test.v1.Things/Public"
	whoAmI := func(ctx context.Context, _ *connect.Request[emptypb.Empty]) (*connect.Response[wrapperspb.StringValue], error) {
		p, _ := authn.FromContext(ctx)
		return connect.NewResponse(wrapperspb.String(p.UserID)), nil
	}
	s := startup.Service[authConfig]{
		Name: "thing", Defaults: authConfig{Service: config.ServiceDefaults("thing", 1)}, Migrations: migrations,
		PublicProcedures: []string{public},
		Wire: func(_ context.Context, p *startup.Process[authConfig]) error {
			p.Server.Mount(private, connect.NewUnaryHandler(private, whoAmI, p.HandlerOptions()...))
			p.Server.Mount(public, connect.NewUnaryHandler(public, whoAmI, p.HandlerOptions()...))
			return nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- startup.Run(ctx, quiet(), nil, ln, s) }()
	base := "http://" + ln.Addr().String()
	waittest.Ready(t, base, done)

	call := func(procedure, token string) (string, error) {
		client := connect.NewClient[emptypb.Empty, wrapperspb.StringValue](http.DefaultClient, base+procedure)
		req := connect.NewRequest(&emptypb.Empty{})
		if token != "" {
			req.Header().Set("Authorization", "Bearer "+token)
		}
		res, err := client.CallUnary(context.Background(), req)
		if err != nil {
			return "", err
		}
		return res.Msg.GetValue(), nil
	}
	if _, err := call(private, ""); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("no token: err = %v, want unauthenticated", err)
	}
	if _, err := call(private, authntest.New(t).Token(t, "mallory")); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("a token of other keys: err = %v, want unauthenticated", err)
	}
	if who, err := call(private, issuer.Token(t, "alice")); err != nil || who != "alice" {
		t.Errorf("a valid token: %q, %v; want alice", who, err)
	}
	if who, err := call(public, ""); err != nil || who != "" {
		t.Errorf("a public procedure without a token: %q, %v", who, err)
	}

	cancel()
	waittest.Stopped(t, done)
}

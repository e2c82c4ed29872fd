package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	authv1 "github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/auth/v1/authv1connect"
	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/platform/startup"
	"github.com/parleyhq/parley/platform/waittest"
)

// runOn is main's start-up, with an optional listener already open (tests listen on port 0).
func runOn(ctx context.Context, logger *slog.Logger, args []string, ln net.Listener) error {
	return startup.Run(ctx, logger, args, ln, service())
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// setEnv points the service at a fresh database and broker, with the cheapest allowed hashing.
func setEnv(t *testing.T, brokers []string) {
	t.Helper()
	t.Setenv("DATABASE_URL", pgtest.URL(t, pgtest.New(t)))
	t.Setenv("KAFKA_BROKERS", strings.Join(brokers, ","))
	generateSigningKey(t)
	generateTOTPKey(t)
	t.Setenv("AUTH_ARGON2_MEMORY_KIB", "19456")
}

func TestRunServesRegistersAndPublishesEvents(t *testing.T) {
	_, brokers := kafkatest.New(t)
	setEnv(t, brokers)
	base, stop := waittest.StartService(t, func(ctx context.Context, ln net.Listener) error {
		return runOn(ctx, quietLogger(), nil, ln)
	})
	ctx := t.Context()
	client := authv1connect.NewAuthServiceClient(http.DefaultClient, base)
	reg, err := client.Register(ctx, connect.NewRequest(&authv1.RegisterRequest{Email: "run@example.com", Password: "plum tree 42", Nickname: "runner"}))
	if err != nil {
		t.Fatal(err)
	}
	userID := reg.Msg.GetUserId()
	if _, err := client.GetMe(ctx, withBearer(&authv1.GetMeRequest{}, reg.Msg.GetTokens().GetAccessToken())); err != nil {
		t.Fatalf("GetMe with the issued token: %v", err)
	}

	// The relay publishes the outbox to Kafka: UserRegistered then UserLoggedIn, keyed by the user.
	consumer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.Auth), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pollCtx, pollCancel := context.WithTimeout(ctx, 20*time.Second)
	defer pollCancel()
	var got []*kgo.Record
	for len(got) < 2 && pollCtx.Err() == nil {
		fetches := consumer.PollFetches(pollCtx)
		fetches.EachRecord(func(r *kgo.Record) { got = append(got, r) })
	}
	if len(got) != 2 {
		t.Fatalf("got %d records on %s; want 2", len(got), topics.Auth)
	}
	header := func(r *kgo.Record, k string) string {
		for _, h := range r.Headers {
			if h.Key == k {
				return string(h.Value)
			}
		}
		return ""
	}
	types := map[string]*kgo.Record{}
	for _, r := range got {
		if string(r.Key) != userID {
			t.Errorf("record key %q; want the user id %q", r.Key, userID)
		}
		if header(r, "ce_source") != "auth" || header(r, "ce_id") == "" {
			t.Errorf("record headers %v lack ce_source=auth or ce_id", r.Headers)
		}
		types[header(r, "ce_type")] = r
	}
	r, ok := types["parley.events.v1.UserRegistered"]
	if !ok || types["parley.events.v1.UserLoggedIn"] == nil {
		t.Fatalf("record types %v; want UserRegistered and UserLoggedIn", types)
	}
	var ev eventsv1.UserRegistered
	if err := proto.Unmarshal(r.Value, &ev); err != nil || ev.GetNickname() != "runner" || ev.GetUserId() != userID {
		t.Fatalf("UserRegistered %v, %v", &ev, err)
	}

	stop()
}

func withBearer[T any](msg *T, token string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	req.Header().Set("Authorization", "Bearer "+token)
	return req
}

func TestRunRefusesToStartWithoutSigningKey(t *testing.T) {
	t.Setenv("AUTH_SIGNING_KEY_FILE", filepath.Join(t.TempDir(), "missing.json"))
	t.Setenv("AUTH_GENERATE_SIGNING_KEY", "false")
	err := runOn(context.Background(), quietLogger(), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "AUTH_GENERATE_SIGNING_KEY") || !strings.Contains(err.Error(), "missing.json") {
		t.Fatalf("run without a key file = %v; want an error naming the file and AUTH_GENERATE_SIGNING_KEY", err)
	}
	t.Setenv("AUTH_SIGNING_KEY_FILE", "")
	if err := runOn(context.Background(), quietLogger(), nil, nil); err == nil || !strings.Contains(err.Error(), "AUTH_SIGNING_KEY_FILE") {
		t.Fatalf("run with no key file configured = %v; want an error naming AUTH_SIGNING_KEY_FILE", err)
	}
}

// generateSigningKey lets the service create its signing key in a temporary directory.
func generateSigningKey(t *testing.T) {
	t.Helper()
	t.Setenv("AUTH_SIGNING_KEY_FILE", filepath.Join(t.TempDir(), "auth", "signing-key.json"))
	t.Setenv("AUTH_GENERATE_SIGNING_KEY", "true")
}

// generateTOTPKey lets the service create its TOTP key in a temporary directory.
func generateTOTPKey(t *testing.T) {
	t.Helper()
	t.Setenv("AUTH_TOTP_KEY_FILE", filepath.Join(t.TempDir(), "auth", "totp-key"))
	t.Setenv("AUTH_GENERATE_TOTP_KEY", "true")
}

func TestRunRefusesToStartWithoutTOTPKey(t *testing.T) {
	generateSigningKey(t)
	missing := filepath.Join(t.TempDir(), "missing-totp-key")
	t.Setenv("AUTH_TOTP_KEY_FILE", missing)
	t.Setenv("AUTH_GENERATE_TOTP_KEY", "false")
	err := runOn(context.Background(), quietLogger(), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "AUTH_GENERATE_TOTP_KEY") || !strings.Contains(err.Error(), missing) {
		t.Fatalf("run without a TOTP key file = %v; want an error naming the file and AUTH_GENERATE_TOTP_KEY", err)
	}
	if err := os.WriteFile(missing, []byte("c2hvcnQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := runOn(context.Background(), quietLogger(), nil, nil); err == nil || !strings.Contains(err.Error(), "32 bytes") {
		t.Fatalf("run with a short TOTP key = %v; want a refusal saying it must be 32 bytes", err)
	}
	t.Setenv("AUTH_TOTP_KEY_FILE", "")
	if err := runOn(context.Background(), quietLogger(), nil, nil); err == nil || !strings.Contains(err.Error(), "AUTH_TOTP_KEY_FILE") {
		t.Fatalf("run with no TOTP key file configured = %v; want an error naming AUTH_TOTP_KEY_FILE", err)
	}
}

// TestRunRefusesBadConfiguration: a setting that would weaken or break the service stops it
// before it starts, with an error saying what is wrong.
func TestRunRefusesBadConfiguration(t *testing.T) {
	for _, c := range []struct{ env, value, want string }{
		{"AUTH_ARGON2_MEMORY_KIB", "4096", "below the minimum"},
		{"AUTH_LOGIN_FREE_FAILURES", "0", "AUTH_LOGIN_"},
		{"AUTH_TRUSTED_PROXIES", "10.0.0.0/8,not-a-cidr", "AUTH_TRUSTED_PROXIES"},
	} {
		t.Run(c.env, func(t *testing.T) {
			generateSigningKey(t)
			generateTOTPKey(t)
			t.Setenv(c.env, c.value)
			err := runOn(context.Background(), quietLogger(), nil, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("run with %s=%q = %v; want a refusal saying %q", c.env, c.value, err, c.want)
			}
		})
	}
}

func TestMigrateSubcommand(t *testing.T) {
	pool := pgtest.New(t)
	t.Setenv("DATABASE_URL", pgtest.URL(t, pool))
	if err := runOn(context.Background(), quietLogger(), []string{"migrate"}, nil); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(context.Background(),
		`SELECT count(*) FROM information_schema.tables WHERE table_name IN ('users', 'sessions', 'refresh_tokens', 'outbox')`).Scan(&n); err != nil || n != 4 {
		t.Fatalf("%d of the 4 tables exist after migrate (%v)", n, err)
	}
	if err := runOn(context.Background(), quietLogger(), []string{"bogus"}, nil); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("unknown subcommand: %v", err)
	}
}

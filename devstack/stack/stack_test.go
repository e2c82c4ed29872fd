package stack

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/waittest"
)

var (
	fakeGateway = fakeService{Service: Service{Name: "gateway", Port: 8080}}
	fakeAuth    = fakeService{Service: Service{Name: "auth", Port: 8081, Database: "parley_auth", SMTP: true}}
	fakeMedia   = fakeService{Service: Service{Name: "media", Port: 8086, Database: "parley_media", S3: true}}
)

// TestStartRunsEverythingAndKeepsDataForTheNextStart brings up the whole stack with three fake
// services, checks each piece answers and each service got its environment, crashes a service
// and sees it restarted, stops the stack, and starts it again on the same data.
func TestStartRunsEverythingAndKeepsDataForTheNextStart(t *testing.T) {
	ctx := ctxTimeout(t, 5*time.Minute)
	out := output(t)
	root := fakeRoot(t, fakeGateway, fakeAuth, fakeMedia)
	opts := testOptions(t, root, out)
	webDir := t.TempDir()
	mustWrite(t, filepath.Join(webDir, "index.html"), "<html>")
	opts.Environ = func() []string { return append(os.Environ(), "WEB_DIR="+webDir) }

	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if got := s.Services(); !slices.Equal(got, []string{"gateway", "auth", "media"}) {
		t.Fatalf("Services = %v", got)
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d", opts.PortBase); s.GatewayURL() != want {
		t.Errorf("GatewayURL = %s, want %s", s.GatewayURL(), want)
	}
	// The gateway serves a build, so the summary says where to open the app: on the gateway's port.
	if want := fmt.Sprintf("http://localhost:%d/", opts.PortBase); !strings.Contains(s.Summary(), "web app") || !strings.Contains(s.Summary(), want) {
		t.Errorf("summary lacks the web app at %s:\n%s", want, s.Summary())
	}

	// Each service got its environment from the registry and the resolved endpoints.
	_, auth := fakeEnv(t, s.ServiceURL("auth"))
	for k, v := range map[string]string{
		"LISTEN_ADDR":   fmt.Sprintf("127.0.0.1:%d", opts.PortBase+1),
		"DATABASE_URL":  s.ServiceDatabaseURL("auth"),
		"KAFKA_BROKERS": s.KafkaBrokers()[0],
		"REDIS_URL":     s.RedisURL(),
		"SMTP_URL":      s.SMTPURL(),
		"MAILPIT_URL":   s.MailpitURL(),
		"AUTH_JWKS_URL": s.ServiceURL("auth") + "/.well-known/jwks.json",
		"MEDIA_URL":     s.ServiceURL("media"),
		"LOG_FORMAT":    "text",
	} {
		if auth[k] != v {
			t.Errorf("auth %s = %q, want %q", k, auth[k], v)
		}
	}
	_, media := fakeEnv(t, s.ServiceURL("media"))
	if media["S3_ENDPOINT"] != s.S3Endpoint() || media["S3_BUCKET"] != DefaultS3Bucket {
		t.Errorf("media S3_ENDPOINT=%q S3_BUCKET=%q", media["S3_ENDPOINT"], media["S3_BUCKET"])
	}
	gwPID, gw := fakeEnv(t, s.GatewayURL())
	if _, ok := gw["DATABASE_URL"]; ok {
		t.Error("the gateway got a DATABASE_URL")
	}

	// Postgres: each service's database exists; write something to find after the restart.
	sqlExec(t, ctx, auth["DATABASE_URL"], "CREATE TABLE kept (v text)", "INSERT INTO kept VALUES ('pg')")
	sqlExec(t, ctx, media["DATABASE_URL"], "SELECT 1")

	// Redis answers and keeps what it is given.
	redisCmd(t, s.RedisURL(), "SET kept redis", "+OK")

	// Kafka: the Parley topics exist; a record produced now must survive the restart.
	cl := client(t, s.KafkaBrokers()[0])
	listed, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range topics.All {
		if !listed.Has(topic) {
			t.Errorf("topic %s missing", topic)
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topics.Chat, Key: []byte("kept"), Value: []byte("kafka")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	// S3: the bucket exists for the dev key, and the server checks signatures.
	e := s.Endpoints()
	if code := s3Status(t, ctx, e, e.S3SecretKey); code != http.StatusOK {
		t.Errorf("HEAD bucket = %d, want 200", code)
	}
	if code := s3Status(t, ctx, e, "wrong-secret"); code != http.StatusForbidden {
		t.Errorf("HEAD bucket with a wrong secret = %d, want 403", code)
	}
	// A browser page may post an upload to it (the web app's presigned POST with progress).
	preflight, err := http.NewRequestWithContext(ctx, http.MethodOptions, e.S3Endpoint+"/"+e.S3Bucket, nil)
	if err != nil {
		t.Fatal(err)
	}
	preflight.Header.Set("Origin", "http://localhost:8080")
	preflight.Header.Set("Access-Control-Request-Method", "POST")
	if res, err := http.DefaultClient.Do(preflight); err != nil {
		t.Error(err)
	} else {
		res.Body.Close()
		if res.Header.Get("Access-Control-Allow-Origin") == "" || !strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("S3 CORS preflight = %d, Allow-Origin %q, Allow-Methods %q", res.StatusCode,
				res.Header.Get("Access-Control-Allow-Origin"), res.Header.Get("Access-Control-Allow-Methods"))
		}
	}

	// Mail sent to SMTP shows up in mailpit's API.
	if err := smtp.SendMail(hostPort(s.SMTPURL()), nil, "auth@parley.test", []string{"ann@example.com"},
		[]byte("Subject: welcome\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	waittest.Until(t, "the mail in mailpit", func() bool { return mailCount(t, s.MailpitURL()) == 1 })

	// The dev OpenID Connect provider publishes its metadata and its key at its own port.
	if want := fmt.Sprintf("http://127.0.0.1:%d", opts.PortBase+26); s.DevOIDCURL() != want {
		t.Errorf("DevOIDCURL = %s, want %s", s.DevOIDCURL(), want)
	}
	kid := oidcKeyID(t, s.DevOIDCURL())

	// A service that crashes is restarted.
	resp, err := http.Get(s.GatewayURL() + "/crash")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waittest.Until(t, "the gateway to be restarted", func() bool {
		return s.Restarts("gateway") == 1 && httpOK(ctx, s.GatewayURL()+"/healthz") == nil
	})
	if pid, _ := fakeEnv(t, s.GatewayURL()); pid == gwPID {
		t.Error("the gateway answers from the crashed process's pid")
	}
	if !strings.Contains(out.String(), "fake service: crashing on request") || !strings.Contains(out.String(), "service exited; restarting it") {
		t.Error("the crash was not reported on the output")
	}
	if s.Err() != nil {
		t.Fatalf("a restarted crash failed the stack: %v", s.Err())
	}

	// Close stops every process.
	var pids []int
	for _, name := range s.Services() {
		pids = append(pids, s.PID(name))
	}
	for _, p := range s.infra {
		pids = append(pids, p.pid())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d still runs after Close", pid)
		}
	}
	select {
	case <-s.Done():
	default:
		t.Error("Done not closed after Close")
	}
	if err := checkPortsFree(opts.localPorts(s.ep, nil)); err != nil {
		t.Errorf("after Close: %v", err)
	}

	// The next start keeps the data.
	opts.InfraOnly = true
	s2, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s2.Close() })
	conn, err := pgx.Connect(ctx, s2.ServiceDatabaseURL("auth"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != "pg" {
		t.Errorf("postgres after restart: %q, %v", v, err)
	}
	redisCmd(t, s2.RedisURL(), "GET kept", "$5")
	cl = client(t, s2.KafkaBrokers()[0], kgo.ConsumeTopics(topics.Chat), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var kept string
	for kept == "" && fctx.Err() == nil {
		cl.PollFetches(fctx).EachRecord(func(r *kgo.Record) {
			if string(r.Key) == "kept" {
				kept = string(r.Value)
			}
		})
	}
	if kept != "kafka" {
		t.Error("kafka lost the record across the restart")
	}
	if code := s3Status(t, ctx, s2.Endpoints(), s2.Endpoints().S3SecretKey); code != http.StatusOK {
		t.Errorf("bucket after restart: HEAD = %d", code)
	}
	if n := mailCount(t, s2.MailpitURL()); n != 1 {
		t.Errorf("mailpit after restart holds %d messages, want 1", n)
	}
	if got := oidcKeyID(t, s2.DevOIDCURL()); got != kid {
		t.Errorf("the dev OIDC provider's key changed across the restart: %s, then %s", kid, got)
	}
	if !strings.Contains(s2.Summary(), s2.MailpitURL()) || !strings.Contains(s2.Summary(), s2.DatabaseURL()) ||
		!strings.Contains(s2.Summary(), s2.DevOIDCURL()) {
		t.Errorf("summary lacks addresses:\n%s", s2.Summary())
	}
}

// TestStartStopsOnCrashWhenAsked: with StopOnCrash a crash fails the stack, naming the service.
func TestStartStopsOnCrashWhenAsked(t *testing.T) {
	ctx := ctxTimeout(t, 3*time.Minute)
	out := output(t)
	opts := testOptions(t, fakeRoot(t, fakeGateway), out)
	opts.StopOnCrash = true
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	resp, err := http.Get(s.GatewayURL() + "/crash")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case <-s.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the stack did not fail after the crash")
	}
	err = s.Err()
	if err == nil || !strings.Contains(err.Error(), "gateway") || !strings.Contains(err.Error(), "exit status 3") ||
		!strings.Contains(err.Error(), "fake service: crashing on request") {
		t.Fatalf("Err = %v; want it to name the gateway, its status and its last lines", err)
	}
	if s.Restarts("gateway") != 1 {
		t.Errorf("Restarts = %d", s.Restarts("gateway"))
	}
}

// TestStartWithExternalInfrastructureAndALaggard runs services against infrastructure the stack did
// not start (another stack's, given as DATABASE_URL etc.), then shows that a service whose health
// never answers fails the start with its name and last lines, leaving nothing running.
func TestStartWithExternalInfrastructureAndALaggard(t *testing.T) {
	ctx := ctxTimeout(t, 3*time.Minute)
	out := output(t)
	infraOpts := testOptions(t, fakeRoot(t, fakeGateway), out)
	infraOpts.InfraOnly = true
	infra, err := Start(ctx, infraOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = infra.Close() })
	external := func(root string) Options {
		o := testOptions(t, root, out)
		e := infra.Endpoints()
		o.DatabaseURL, o.RedisURL, o.KafkaBrokers, o.S3Endpoint, o.SMTPURL, o.MailpitURL =
			e.DatabaseURL, e.RedisURL, e.KafkaBrokers, e.S3Endpoint, e.SMTPURL, e.MailpitURL
		o.DatabaseSuffix = "_other"
		return o
	}

	opts := external(fakeRoot(t, fakeGateway, fakeAuth))
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if e := s.Endpoints(); e.LocalPostgres || e.LocalRedis || e.LocalKafka || e.LocalS3 || e.LocalMail {
		t.Errorf("started infrastructure of its own: %+v", e)
	}
	_, env := fakeEnv(t, s.ServiceURL("auth"))
	wantDB, _ := withDatabase(infra.DatabaseURL(), "parley_auth_other")
	if env["DATABASE_URL"] != wantDB || env["KAFKA_BROKERS"] != infra.KafkaBrokers()[0] || env["SMTP_URL"] != infra.SMTPURL() {
		t.Errorf("auth got DATABASE_URL=%s KAFKA_BROKERS=%s SMTP_URL=%s", env["DATABASE_URL"], env["KAFKA_BROKERS"], env["SMTP_URL"])
	}
	sqlExec(t, ctx, wantDB, "SELECT 1") // created on the external server
	_ = s.Close()

	// Building the services does not count against the timeout; waiting for them does.
	opts = external(fakeRoot(t, fakeGateway, fakeService{Service: fakeAuth.Service, mode: "unhealthy"}))
	opts.ReadyTimeout = 5 * time.Second
	s, err = Start(ctx, opts)
	if err == nil {
		_ = s.Close()
		t.Fatal("Start succeeded with an unhealthy service")
	}
	msg := err.Error()
	t.Logf("the error a developer sees:\n%s", msg)
	for _, want := range []string{"auth", "not healthy after 5s", "503", "fake service", "listening on"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "gateway (") {
		t.Errorf("the healthy gateway is named as a laggard:\n%s", msg)
	}
	if err := checkPortsFree(opts.localPorts(opts.endpoints(), []Service{fakeGateway.Service, fakeAuth.Service})); err != nil {
		t.Errorf("after a failed start: %v", err)
	}
	if infra.Err() != nil {
		t.Errorf("the infrastructure failed meanwhile: %v", infra.Err())
	}
}

// TestStartGivesUpOnAServiceThatKeepsCrashing fails the start after the third crash.
func TestStartGivesUpOnAServiceThatKeepsCrashing(t *testing.T) {
	ctx := ctxTimeout(t, 3*time.Minute)
	out := output(t)
	opts := testOptions(t, fakeRoot(t, fakeService{Service: fakeGateway.Service, mode: "crash"}), out)
	_, err := Start(ctx, opts)
	if err == nil || !strings.Contains(err.Error(), "gateway crashed 3 times while starting") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v", err)
	}
}

// TestStartRefusesABusyPortOrDataDir: a second stack on the same ports or data fails before
// starting anything, saying why.
func TestStartRefusesABusyPortOrDataDir(t *testing.T) {
	ctx := ctxTimeout(t, 3*time.Minute)
	out := output(t)
	opts := testOptions(t, fakeRoot(t, fakeGateway), out)
	opts.InfraOnly = true
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Start(ctx, opts); err == nil || !strings.Contains(err.Error(), "ports in use") || !strings.Contains(err.Error(), "(postgres)") {
		t.Errorf("same ports: %v", err)
	}
	other := opts
	if other.PortBase, err = FreePortBase(); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(ctx, other); err == nil || !strings.Contains(err.Error(), "another dev stack") {
		t.Errorf("same data directory: %v", err)
	}
}

// TestStartWithTheRepositorysServices runs the real registry with whatever services are written
// so far (none yet means the infrastructure alone), as `make up` does.
func TestStartWithTheRepositorysServices(t *testing.T) {
	ctx := ctxTimeout(t, 10*time.Minute)
	out := output(t)
	opts := testOptions(t, repoRoot(t), out)
	opts.StopOnCrash = true
	opts.ReadyTimeout = 3 * time.Minute
	begin := time.Now()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Logf("up in %s with services %v", time.Since(begin).Round(100*time.Millisecond), s.Services())
	for _, name := range s.Services() {
		svc, _ := s.reg.Service(name)
		if err := httpOK(ctx, s.ServiceURL(name)+svc.Health); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, c := range Status(ctx, opts, true) {
		if c.Err != nil {
			t.Errorf("status %s (%s): %v", c.Name, c.Address, c.Err)
		}
	}
}

// --- helpers -----------------------------------------------------------------------------------

func s3Status(t *testing.T, ctx context.Context, e Endpoints, secret string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, e.S3Endpoint+"/"+e.S3Bucket, nil)
	if err != nil {
		t.Fatal(err)
	}
	signV4(req, e.S3AccessKey, secret, e.S3Region, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// oidcKeyID fetches the provider's discovery document and its JWKS and returns its key's id.
func oidcKeyID(t *testing.T, issuer string) string {
	t.Helper()
	getJSON := func(url string, v any) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", url, resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(issuer+"/.well-known/openid-configuration", &meta)
	if meta.Issuer != issuer {
		t.Fatalf("the provider at %s calls itself %q", issuer, meta.Issuer)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	getJSON(meta.JWKSURI, &set)
	if len(set.Keys) != 1 || set.Keys[0].Kid == "" {
		t.Fatalf("JWKS of %s: %+v", issuer, set)
	}
	return set.Keys[0].Kid
}

func mailCount(t *testing.T, mailpitURL string) int {
	t.Helper()
	resp, err := http.Get(mailpitURL + "/api/v1/messages")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Total int `json:"total"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.Total
}

// redisCmd sends an inline command and checks the first line of the reply.
func redisCmd(t *testing.T, redisURL, cmd, want string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", hostPort(redisURL), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(cmd + "\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(line); got != want {
		t.Fatalf("redis %q = %q, want %q", cmd, got, want)
	}
}

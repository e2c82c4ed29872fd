package stack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/parleyhq/parley/contracts/topics"
)

// --- Redis -------------------------------------------------------------------------------------

// redisSpec runs redis-server in the foreground on 127.0.0.1:port, persisting to dir with an
// append-only file (every write, fsync once a second) so the next start keeps the data.
func redisSpec(bin, dir string, port int, out *LineWriter) procSpec {
	return procSpec{
		name: "redis",
		path: bin,
		args: []string{
			"--bind", "127.0.0.1",
			"--port", strconv.Itoa(port),
			"--dir", dir,
			"--appendonly", "yes",
			"--appendfsync", "everysec",
			"--save", "",
			"--daemonize", "no",
			"--logfile", "",
			"--protected-mode", "yes",
		},
		dir:        dir,
		env:        []string{"PATH=/usr/bin:/bin"},
		stopSignal: syscall.SIGTERM, // redis-server flushes its append-only file and exits
		out:        out,
	}
}

// findRedis looks for redis-server on PATH and in the usual places.
func findRedis() (string, bool) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, true
	}
	for _, p := range []string{"/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server"} {
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}

// redisPing sends PING and expects PONG (a loading server answers -LOADING, which is not ready).
func redisPing(ctx context.Context, addr string) error {
	conn, err := dial(ctx, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line = strings.TrimSpace(line); line != "+PONG" {
		return fmt.Errorf("redis answered %q", line)
	}
	return nil
}

// --- Kafka -------------------------------------------------------------------------------------

// kafkaPartitions is how many partitions each Parley topic gets.
const kafkaPartitions = 3

// startKafka runs franz-go's kfake broker in this process on 127.0.0.1:port. kfake's DataDir
// persists topics, records, committed offsets and producer state under dir as it goes (and fully
// on Close), and reloads them at the next start. Topics from contracts/topics are created when
// missing; others are created on first use, as with Kafka's default auto.create.topics.enable.
func startKafka(dir string, port int, out *LineWriter) (*kfake.Cluster, error) {
	c, err := kfake.NewCluster(
		kfake.Ports(port),
		kfake.DataDir(dir),
		kfake.ClusterID("parley-dev"),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(kafkaPartitions),
		kfake.SeedTopics(kafkaPartitions, topics.All...),
		kfake.WithLogger(kfake.BasicLogger(out, kfake.LogLevelWarn)),
	)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka on 127.0.0.1:%d (data in %s): %w", port, dir, err)
	}
	// Seeding applies only to a new data directory; a topic added to contracts later is created here.
	for _, t := range topics.All {
		if c.TopicInfo(t) != nil {
			continue
		}
		if err := c.CreateTopic(t, kafkaPartitions, nil); err != nil {
			c.Close()
			return nil, fmt.Errorf("embedded kafka: create topic %s: %w", t, err)
		}
	}
	return c, nil
}

// ensureTopics creates the Parley topics on an external cluster (replication: the broker default).
// opts are the cluster's TLS and SASL (kafkaconn.Options).
func ensureTopics(ctx context.Context, brokers []string, opts []kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.RequestTimeoutOverhead(5 * time.Second)}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopics(cctx, kafkaPartitions, -1, nil, topics.All...)
	if err != nil {
		return fmt.Errorf("kafka at %s: create topics: %w", strings.Join(brokers, ","), err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("kafka at %s: create topic %s: %w", strings.Join(brokers, ","), r.Topic, r.Err)
		}
	}
	return nil
}

// --- S3 (versitygw) ----------------------------------------------------------------------------

const s3HealthPath = "/health"

// versitygwSpec serves dir as S3 (posix backend: buckets are directories, objects files, metadata
// in extended attributes, or in a sidecar directory where the file system has none).
func versitygwSpec(bin, dir, metaDir string, port int, e Endpoints, out *LineWriter) procSpec {
	args := []string{
		"--port", fmt.Sprintf("127.0.0.1:%d", port),
		"--access", e.S3AccessKey,
		"--secret", e.S3SecretKey,
		"--region", e.S3Region,
		"--health", s3HealthPath,
		// The web app posts uploads straight to S3 (media's presigned POST) from the gateway's
		// origin or the Vite dev server's: browsers need CORS answers for that. Any origin, as
		// this server listens on 127.0.0.1 only and every upload needs media's signed policy.
		"--cors-allow-origin", "*",
		"--quiet",
		"posix",
	}
	if metaDir != "" {
		args = append(args, "--sidecar", metaDir)
	}
	args = append(args, dir)
	return procSpec{
		name: "s3", path: bin, args: args, dir: dir,
		env: []string{"PATH=/usr/bin:/bin", "HOME=" + dir},
		out: out,
	}
}

// ensureBucket creates the bucket unless it exists, with requests signed by the root key.
func ensureBucket(ctx context.Context, e Endpoints) error {
	u := strings.TrimSuffix(e.S3Endpoint, "/") + "/" + url.PathEscape(e.S3Bucket)
	do := func(method string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, method, u, nil)
		if err != nil {
			return 0, err
		}
		signV4(req, e.S3AccessKey, e.S3SecretKey, e.S3Region, time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	code, err := do(http.MethodHead)
	if err != nil {
		return fmt.Errorf("s3: look for bucket %s: %w", e.S3Bucket, err)
	}
	switch code {
	case http.StatusOK:
		return nil
	case http.StatusNotFound:
	default:
		return fmt.Errorf("s3: HEAD bucket %s answered %d", e.S3Bucket, code)
	}
	code, err = do(http.MethodPut)
	if err != nil {
		return fmt.Errorf("s3: create bucket %s: %w", e.S3Bucket, err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("s3: create bucket %s: status %d", e.S3Bucket, code)
	}
	return nil
}

// --- mail (mailpit) ----------------------------------------------------------------------------

// mailpitSpec catches mail on smtpPort and shows it on webPort, keeping it in dir/mailpit.db. Any
// SMTP login is accepted, so services configured with credentials work unchanged.
func mailpitSpec(bin, dir string, smtpPort, webPort int, out *LineWriter) procSpec {
	return procSpec{
		name: "mail",
		path: bin,
		args: []string{
			"--smtp", fmt.Sprintf("127.0.0.1:%d", smtpPort),
			"--listen", fmt.Sprintf("127.0.0.1:%d", webPort),
			"--database", filepath.Join(dir, "mailpit.db"),
			"--disable-version-check",
			"--smtp-auth-accept-any",
			"--smtp-auth-allow-insecure",
		},
		dir: dir,
		env: []string{"PATH=/usr/bin:/bin", "HOME=" + dir},
		out: out,
	}
}

// --- readiness ---------------------------------------------------------------------------------

// waitFor calls check every 100ms until it succeeds, the process exits, ctx ends or timeout passes.
func waitFor(ctx context.Context, what string, p *process, timeout time.Duration, check func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := check(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if p != nil && p.exited() {
			return p.exitError()
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("%s not ready within %s: %v", what, timeout, err)
			if p != nil {
				msg += "; its last lines:\n" + tailText(p.spec.out)
			}
			return errors.New(msg)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// httpOK succeeds when GET url answers 2xx.
func httpOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// tcpOpen succeeds when something accepts connections on addr.
func tcpOpen(ctx context.Context, addr string) error {
	conn, err := dial(ctx, addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// dial connects to addr over TCP, giving up after a second.
func dial(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: time.Second}
	return d.DialContext(ctx, "tcp", addr)
}

// hostPort returns host:port of a URL.
func hostPort(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Host
}

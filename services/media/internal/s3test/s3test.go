// Package s3test runs a real S3 server for tests: versitygw (the dev stack's S3 server, pinned in
// tools/go.mod) with its posix backend in a temporary directory. One server serves a whole test
// package (start it from TestMain with Main); each test gets a bucket of its own (Bucket).
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/parleyhq/parley/platform/proctest"
)

// Credentials and region of the test server.
const (
	AccessKey = "parley-test"
	SecretKey = "parley-test-secret"
	Region    = "us-east-1"
)

var (
	mu       sync.Mutex
	endpoint string
)

// Endpoint is the running server's URL ("http://127.0.0.1:port"); Main must have started it.
func Endpoint() string {
	mu.Lock()
	defer mu.Unlock()
	return endpoint
}

// Main starts the server, runs the package's tests and stops the server; call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }
//
// PARLEY_TEST_S3_ENDPOINT points the tests at a server that is already running instead (with the
// credentials above). The versitygw binary is looked up in PARLEY_VERSITYGW, <repo>/.bin and PATH,
// and built from tools/go.mod into <repo>/.bin when it is nowhere.
func Main(m *testing.M) int {
	if ep := os.Getenv("PARLEY_TEST_S3_ENDPOINT"); ep != "" {
		mu.Lock()
		endpoint = strings.TrimSuffix(ep, "/")
		mu.Unlock()
		return m.Run()
	}
	stop, err := start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3test:", err) // test harness output before any test runs
		return 1
	}
	defer stop()
	return m.Run()
}

func start() (func(), error) {
	bin, err := proctest.Tool("PARLEY_VERSITYGW", "versitygw", "github.com/versity/versitygw/cmd/versitygw")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "parley-s3test-")
	if err != nil {
		return nil, err
	}
	data, meta := filepath.Join(dir, "data"), filepath.Join(dir, "meta")
	for _, d := range []string{data, meta} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	port, err := proctest.FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "--port", addr, "--access", AccessKey, "--secret", SecretKey,
		"--region", Region, "--health", "/health", "--quiet", "posix", "--sidecar", meta, data)
	cmd.Dir = dir
	ep := "http://" + addr
	p, err := proctest.Start(cmd, os.Interrupt, 30*time.Second, func() error { return proctest.HTTPOK(ep + "/health") })
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("versitygw at %s: %w", ep, err)
	}
	stop := func() {
		p.Stop()
		_ = os.RemoveAll(dir)
	}
	mu.Lock()
	endpoint = ep
	mu.Unlock()
	return stop, nil
}

// Client returns an S3 client for the server (path-style addressing, root credentials).
func Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint:               aws.String(Endpoint()),
		Region:                     Region,
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// Bucket creates a bucket with a random name for t; its objects and the bucket are removed when
// the test ends.
func Bucket(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "test-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := Client()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("s3test: create bucket %s at %s: %v", name, Endpoint(), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, k := range Keys(t, name) {
			_, _ = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(name), Key: aws.String(k)})
		}
		_, _ = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)})
	})
	return name
}

// Keys lists every object key in bucket.
func Keys(t testing.TB, bucket string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var keys []string
	p := s3.NewListObjectsV2Paginator(Client(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("s3test: list %s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

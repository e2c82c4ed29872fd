package kafkaconn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/parleyhq/parley/platform/config"
	"github.com/parleyhq/parley/platform/kafkatest"
)

// Nothing but KAFKA_BROKERS set is the dev stack's plain text: no option at all.
func TestOptionsPlainTextByDefault(t *testing.T) {
	opts, err := Options(config.Kafka{KafkaBrokers: []string{"k:9092"}})
	if err != nil || len(opts) != 0 {
		t.Fatalf("Options = %d options, %v; want none", len(opts), err)
	}
}

// Every refusal names the variable to change; the password never appears in one.
func TestOptionsRefusalsNameTheVariable(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	empty := filepath.Join(dir, "password")
	for _, f := range []string{notPEM, empty} {
		if err := os.WriteFile(f, []byte("\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sasl := config.Kafka{KafkaTLS: true, KafkaSASLMechanism: "SCRAM-SHA-512", KafkaSASLUsername: "svc", KafkaSASLPassword: "hunter2"}
	with := func(f func(*config.Kafka)) config.Kafka { k := sasl; f(&k); return k }
	cases := []struct {
		name string
		k    config.Kafka
		want []string
	}{
		{"unknown mechanism", with(func(k *config.Kafka) { k.KafkaSASLMechanism = "GSSAPI" }), []string{"KAFKA_SASL_MECHANISM", `"GSSAPI"`}},
		{"no username", with(func(k *config.Kafka) { k.KafkaSASLUsername = "" }), []string{"KAFKA_SASL_USERNAME"}},
		{"no password", with(func(k *config.Kafka) { k.KafkaSASLPassword = "" }), []string{"KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE"}},
		{"both passwords", with(func(k *config.Kafka) { k.KafkaSASLPasswordFile = empty }), []string{"KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE"}},
		{"sasl in clear", with(func(k *config.Kafka) { k.KafkaTLS = false }), []string{"KAFKA_TLS=true", "KAFKA_SASL_ALLOW_PLAINTEXT"}},
		{"credentials without mechanism", config.Kafka{KafkaSASLUsername: "svc"}, []string{"KAFKA_SASL_MECHANISM"}},
		{"ca without tls", config.Kafka{KafkaTLSCAFile: notPEM}, []string{"KAFKA_TLS_CA_FILE", "KAFKA_TLS is not true"}},
		{"server name without tls", config.Kafka{KafkaTLSServerName: "kafka"}, []string{"KAFKA_TLS_SERVER_NAME"}},
		{"missing ca file", config.Kafka{KafkaTLS: true, KafkaTLSCAFile: filepath.Join(dir, "absent.pem")}, []string{"KAFKA_TLS_CA_FILE", "absent.pem"}},
		{"ca file without pem", config.Kafka{KafkaTLS: true, KafkaTLSCAFile: notPEM}, []string{"KAFKA_TLS_CA_FILE: no PEM certificate"}},
		{"missing password file", with(func(k *config.Kafka) { k.KafkaSASLPassword, k.KafkaSASLPasswordFile = "", filepath.Join(dir, "absent") }), []string{"KAFKA_SASL_PASSWORD_FILE"}},
		{"empty password file", with(func(k *config.Kafka) { k.KafkaSASLPassword, k.KafkaSASLPasswordFile = "", empty }), []string{"KAFKA_SASL_PASSWORD_FILE", "is empty"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Options(c.k)
			if err == nil {
				t.Fatal("Options accepted it")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q holds the password", err)
			}
		})
	}
	// The explicit opt-in makes SASL without TLS acceptable; the mechanism is case-insensitive.
	k := with(func(k *config.Kafka) {
		k.KafkaTLS, k.KafkaSASLAllowPlaintext, k.KafkaSASLMechanism = false, true, "plain"
	})
	if opts, err := Options(k); err != nil || len(opts) != 1 {
		t.Fatalf("SASL in clear allowed: %d options, %v; want the SASL one", len(opts), err)
	}
}

func TestTLSConfigRootsAndServerName(t *testing.T) {
	ca := newCA(t)
	tc, err := TLSConfig(config.Kafka{KafkaTLS: true})
	if err != nil || tc.RootCAs != nil || tc.ServerName != "" || tc.MinVersion != tls.VersionTLS12 {
		t.Fatalf("without a CA file: %+v, %v; want the system roots and the broker's host", tc, err)
	}
	tc, err = TLSConfig(config.Kafka{KafkaTLS: true, KafkaTLSCAFile: ca.file, KafkaTLSServerName: "kafka.internal"})
	if err != nil {
		t.Fatal(err)
	}
	if tc.ServerName != "kafka.internal" || tc.RootCAs == nil || !tc.RootCAs.Equal(ca.pool) {
		t.Fatalf("with a CA file: server name %q, roots %v; want kafka.internal and the CA alone", tc.ServerName, tc.RootCAs)
	}
}

const topic = "kafkaconn.test"

// A client built from the variables produces to and consumes from a broker that requires TLS and
// SASL, with each mechanism; a wrong password, an untrusted CA or the wrong server name is refused.
func TestOptionsReachBrokerOverTLSWithSASL(t *testing.T) {
	ca := newCA(t)
	_, brokers := kafkatest.New(t,
		kfake.TLS(ca.serverConfig(t, "kafka.internal")),
		kfake.EnableSASL(),
		kfake.Superuser(config.SASLPlain, "parley-plain", "s3cret-plain"),
		kfake.Superuser(config.SASLScramSHA256, "parley-256", "s3cret-256"),
		kfake.Superuser(config.SASLScramSHA512, "parley-512", "s3cret-512"),
		kfake.SeedTopics(1, topic),
	)
	base := config.Kafka{KafkaBrokers: brokers, KafkaTLS: true, KafkaTLSCAFile: ca.file, KafkaTLSServerName: "kafka.internal"}

	users := map[string][2]string{
		config.SASLPlain:       {"parley-plain", "s3cret-plain"},
		config.SASLScramSHA256: {"parley-256", "s3cret-256"},
		config.SASLScramSHA512: {"parley-512", "s3cret-512"},
	}
	for mech, up := range users {
		t.Run(mech, func(t *testing.T) {
			k := base
			k.KafkaSASLMechanism, k.KafkaSASLUsername, k.KafkaSASLPassword = mech, up[0], up[1]
			roundTrip(t, k, mech)

			k.KafkaSASLPassword = "wrong"
			if err := ping(t, k); err == nil {
				t.Fatal("a wrong password was accepted")
			}
		})
	}

	t.Run("password file is read at each authentication", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "password")
		if err := os.WriteFile(file, []byte("wrong\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		k := base
		k.KafkaSASLMechanism, k.KafkaSASLUsername, k.KafkaSASLPasswordFile = config.SASLScramSHA512, "parley-512", file
		opts, err := Options(k)
		if err != nil {
			t.Fatal(err)
		}
		if err := pingWith(t, k.KafkaBrokers, opts); err == nil {
			t.Fatal("the wrong password in the file was accepted")
		}
		// The Secret is rotated (Kubernetes rewrites the mounted file): the same options now work.
		if err := os.WriteFile(file, []byte("s3cret-512\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := pingWith(t, k.KafkaBrokers, opts); err != nil {
			t.Fatalf("after the rotation: %v", err)
		}
	})

	t.Run("tls is verified", func(t *testing.T) {
		k := base
		k.KafkaSASLMechanism, k.KafkaSASLUsername, k.KafkaSASLPassword = config.SASLScramSHA512, "parley-512", "s3cret-512"
		noServerName := k
		noServerName.KafkaTLSServerName = "" // the certificate names kafka.internal, not 127.0.0.1
		if err := ping(t, noServerName); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("a certificate for another name was accepted: %v", err)
		}
		systemRoots := k
		systemRoots.KafkaTLSCAFile = "" // the test CA is not among the system's roots
		if err := ping(t, systemRoots); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("a certificate of an unknown authority was accepted: %v", err)
		}
		plainText := k
		plainText.KafkaTLS, plainText.KafkaTLSCAFile, plainText.KafkaTLSServerName, plainText.KafkaSASLAllowPlaintext = false, "", "", true
		if err := ping(t, plainText); err == nil {
			t.Fatal("a plain-text client reached a TLS listener")
		}
	})
}

// roundTrip produces one record as k says and consumes it back with a second client.
func roundTrip(t *testing.T, k config.Kafka, value string) {
	t.Helper()
	opts, err := Options(k)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	producer := newClient(t, k.KafkaBrokers, opts)
	if err := producer.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(value)}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	consumer := newClient(t, k.KafkaBrokers, append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())))
	for {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume: %q not read back: %v", value, err)
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			t.Fatalf("consume: %v", errs[0].Err)
		}
		found := false
		fetches.EachRecord(func(r *kgo.Record) { found = found || string(r.Value) == value })
		if found {
			return
		}
	}
}

func ping(t *testing.T, k config.Kafka) error {
	t.Helper()
	opts, err := Options(k)
	if err != nil {
		t.Fatal(err)
	}
	return pingWith(t, k.KafkaBrokers, opts)
}

// pingWith asks the broker for its metadata, which needs a connection that passed TLS and SASL.
// The client does not retry a refused authentication; the timeout only bounds a hang.
func pingWith(t *testing.T, brokers []string, opts []kgo.Opt) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return newClient(t, brokers, opts).Ping(ctx)
}

func newClient(t *testing.T, brokers []string, opts []kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// testCA is a certificate authority made for one test, its certificate written to file.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	file string
}

func newCA(t *testing.T) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "parley test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return testCA{cert: cert, key: key, pool: pool, file: file}
}

// serverConfig is a listener's TLS configuration with a certificate for dnsName alone, signed by ca.
func (ca testCA) serverConfig(t *testing.T, dnsName string) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: dnsName}, DNSNames: []string{dnsName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

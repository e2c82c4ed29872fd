// Package kafkaconn turns the Kafka variables (config.Kafka: KAFKA_TLS…, KAFKA_SASL_…) into the
// franz-go options every Kafka client of a process is built with, the way redisconn does for
// REDIS_URL: the outbox relay, the consumers, the gateway's fan-out and dlq-replay all take them
// as their ClientOpts, so TLS and SASL are configured once for all of them.
package kafkaconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/parleyhq/parley/platform/config"
)

// Options checks k (config.Kafka.Check), reads the files it names and returns the options that
// dial its brokers as it says: none when only KAFKA_BROKERS is set (plain text, as the dev stack
// runs). Call it at start-up, before connecting: an error names the variable to fix and never
// holds the password.
func Options(k config.Kafka) ([]kgo.Opt, error) {
	if err := k.Check(); err != nil {
		return nil, err
	}
	var opts []kgo.Opt
	if k.KafkaTLS {
		tc, err := TLSConfig(k)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if k.SASLMechanism() != "" {
		m, err := mechanism(k)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// TLSConfig is the client TLS configuration KAFKA_TLS=true dials with: the certificates of
// KAFKA_TLS_CA_FILE as the only roots (the system's when it is empty), KAFKA_TLS_SERVER_NAME as
// the name to verify (franz-go uses each broker's host when it is empty), TLS 1.2 at least.
func TLSConfig(k config.Kafka) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: k.KafkaTLSServerName}
	if k.KafkaTLSCAFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(k.KafkaTLSCAFile)
	if err != nil {
		return nil, fmt.Errorf("KAFKA_TLS_CA_FILE: %w", err)
	}
	tc.RootCAs = x509.NewCertPool()
	if !tc.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("KAFKA_TLS_CA_FILE: no PEM certificate in %s", k.KafkaTLSCAFile)
	}
	return tc, nil
}

// mechanism is the SASL mechanism KAFKA_SASL_MECHANISM names. The password is read now, so that
// a missing or empty KAFKA_SASL_PASSWORD_FILE fails the start, and again at every authentication
// (each new connection), so that a rotated Secret, which Kubernetes updates in the mounted file,
// is used without a restart.
func mechanism(k config.Kafka) (sasl.Mechanism, error) {
	if _, err := password(k); err != nil {
		return nil, err
	}
	user := k.KafkaSASLUsername
	switch k.SASLMechanism() {
	case config.SASLPlain:
		return plain.Plain(func(context.Context) (plain.Auth, error) {
			pass, err := password(k)
			return plain.Auth{User: user, Pass: pass}, err
		}), nil
	case config.SASLScramSHA256:
		return scram.Sha256(func(context.Context) (scram.Auth, error) {
			pass, err := password(k)
			return scram.Auth{User: user, Pass: pass}, err
		}), nil
	case config.SASLScramSHA512:
		return scram.Sha512(func(context.Context) (scram.Auth, error) {
			pass, err := password(k)
			return scram.Auth{User: user, Pass: pass}, err
		}), nil
	}
	return nil, fmt.Errorf("KAFKA_SASL_MECHANISM: unknown mechanism %q", k.KafkaSASLMechanism) // Check refused it already
}

// password is KAFKA_SASL_PASSWORD, or the content of KAFKA_SASL_PASSWORD_FILE without the line
// break an editor or `kubectl create secret --from-file` leaves at its end.
func password(k config.Kafka) (string, error) {
	if k.KafkaSASLPasswordFile == "" {
		return k.KafkaSASLPassword, nil
	}
	b, err := os.ReadFile(k.KafkaSASLPasswordFile)
	if err != nil {
		return "", fmt.Errorf("KAFKA_SASL_PASSWORD_FILE: %w", err)
	}
	pass := strings.TrimRight(string(b), "\r\n")
	if pass == "" {
		return "", errors.New("KAFKA_SASL_PASSWORD_FILE: " + k.KafkaSASLPasswordFile + " is empty")
	}
	return pass, nil
}

package config

import (
	"errors"
	"fmt"
	"strings"
)

// The SASL mechanisms KAFKA_SASL_MECHANISM may name (franz-go's pkg/sasl/plain and pkg/sasl/scram).
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Kafka is where the Kafka brokers are and how a process reaches them, read by every process that
// talks to Kafka (embedded in Common). Nothing but KAFKA_BROKERS set is plain text without
// authentication, as the dev stack runs; production sets TLS and SASL (docs/deploy.md).
// kafkaconn.Options turns it into franz-go options; Start refuses inconsistent values (Check).
type Kafka struct {
	KafkaBrokers []string `env:"KAFKA_BROKERS" envDefault:"127.0.0.1:9092" envSeparator:","`
	// KafkaTLS dials the brokers over TLS, verified against KafkaTLSCAFile's certificates, or the
	// system's roots when that is empty, for the name KafkaTLSServerName, or the broker's host
	// when that is empty.
	KafkaTLS           bool   `env:"KAFKA_TLS"`
	KafkaTLSCAFile     string `env:"KAFKA_TLS_CA_FILE"`
	KafkaTLSServerName string `env:"KAFKA_TLS_SERVER_NAME"`
	// KafkaSASLMechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty, no authentication.
	KafkaSASLMechanism string `env:"KAFKA_SASL_MECHANISM"`
	KafkaSASLUsername  string `env:"KAFKA_SASL_USERNAME"`
	// KafkaSASLPassword, or the file KafkaSASLPasswordFile names (a mounted Secret, read at
	// every authentication so a rotated Secret is picked up on the next connection): one of them.
	KafkaSASLPassword     string `env:"KAFKA_SASL_PASSWORD" secret:"true"`
	KafkaSASLPasswordFile string `env:"KAFKA_SASL_PASSWORD_FILE"`
	// KafkaSASLAllowPlaintext permits SASL without TLS, which sends the password (PLAIN) or its
	// proof (SCRAM) and every record in clear: for a broker on a trusted network only.
	KafkaSASLAllowPlaintext bool `env:"KAFKA_SASL_ALLOW_PLAINTEXT"`
}

// SASLMechanism is KAFKA_SASL_MECHANISM in capitals, as Check and kafkaconn compare it.
func (k Kafka) SASLMechanism() string {
	return strings.ToUpper(strings.TrimSpace(k.KafkaSASLMechanism))
}

// Check refuses the combinations of the Kafka variables that cannot be what the operator meant,
// naming the variable to change: every problem at once. The files it names are read by
// kafkaconn.Options, which reports those it cannot read.
func (k Kafka) Check() error {
	var errs []error
	if !k.KafkaTLS {
		if k.KafkaTLSCAFile != "" {
			errs = append(errs, errors.New("KAFKA_TLS_CA_FILE: set, but KAFKA_TLS is not true (set KAFKA_TLS=true to use it)"))
		}
		if k.KafkaTLSServerName != "" {
			errs = append(errs, errors.New("KAFKA_TLS_SERVER_NAME: set, but KAFKA_TLS is not true (set KAFKA_TLS=true to use it)"))
		}
	}
	switch mech := k.SASLMechanism(); mech {
	case "":
		if k.KafkaSASLUsername != "" || k.KafkaSASLPassword != "" || k.KafkaSASLPasswordFile != "" {
			errs = append(errs, errors.New("KAFKA_SASL_MECHANISM: empty, but a SASL username or password is set (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"))
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if k.KafkaSASLUsername == "" {
			errs = append(errs, fmt.Errorf("KAFKA_SASL_USERNAME: required with KAFKA_SASL_MECHANISM=%s", mech))
		}
		switch {
		case k.KafkaSASLPassword == "" && k.KafkaSASLPasswordFile == "":
			errs = append(errs, fmt.Errorf("KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE: one is required with KAFKA_SASL_MECHANISM=%s", mech))
		case k.KafkaSASLPassword != "" && k.KafkaSASLPasswordFile != "":
			errs = append(errs, errors.New("KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE: both set; set one"))
		}
		if !k.KafkaTLS && !k.KafkaSASLAllowPlaintext {
			errs = append(errs, fmt.Errorf("KAFKA_SASL_MECHANISM=%s without KAFKA_TLS=true would send the credentials in clear: "+
				"set KAFKA_TLS=true, or KAFKA_SASL_ALLOW_PLAINTEXT=true for a broker on a trusted network", mech))
		}
	default:
		errs = append(errs, fmt.Errorf("KAFKA_SASL_MECHANISM: unknown mechanism %q (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty for none)", k.KafkaSASLMechanism))
	}
	return errors.Join(errs...)
}

// tidyBrokers trims the KAFKA_BROKERS entries and drops the blank ones (load calls it): the
// client takes each entry as written, so "k1:9092, k2:9092" would name the host " k2" and a blank
// entry would dial :9092 on this host. KAFKA_BROKERS="," is thus an empty list (no broker).
func (k *Kafka) tidyBrokers() {
	brokers := k.KafkaBrokers[:0]
	for _, b := range k.KafkaBrokers {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	k.KafkaBrokers = brokers
}

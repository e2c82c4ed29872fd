package main

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/parleyhq/parley/platform/config"
)

// Config is the notification service's whole configuration, read from the environment.
// docs/notification.md describes every variable.
type Config struct {
	config.Common
	config.Service // LISTEN_ADDR, DATABASE_URL, DATABASE_WAIT

	// ConsumerFetchWait is how long the broker may gather events for one batch: under a steady
	// trickle of messages one transaction handles many of them instead of each paying its own.
	// The most it delays a notification. At least 10ms; 0 hands over each event at once.
	ConsumerFetchWait time.Duration `env:"CONSUMER_FETCH_WAIT" envDefault:"50ms"`

	config.Redis    // REDIS_URL
	config.AuthJWKS // AUTH_JWKS_URL
	// INTERNAL_API_TOKEN is the secret other Parley services present to call Notify. Empty refuses
	// every Notify call.
	config.InternalAPI

	// SMTPURL is the mail server: smtp://[user:pass@]host[:port] (STARTTLS when offered) or
	// smtps://… (TLS from the start).
	SMTPURL string `env:"SMTP_URL" envDefault:"smtp://127.0.0.1:1025"`
	// EmailFrom is the From of every email, "Name <address>" or a bare address.
	EmailFrom string `env:"EMAIL_FROM" envDefault:"Parley <no-reply@parley.local>"`
	// PublicWebURL is where the web client lives; emails link into it.
	PublicWebURL string `env:"PUBLIC_WEB_URL" envDefault:"http://localhost:8080"`
	// DigestDelay is how long after the first unsent message of a chat its digest email is due.
	DigestDelay time.Duration `env:"DIGEST_DELAY" envDefault:"2m"`
	// OfflineAfter is how long since a user was last seen online before they count as away:
	// message digests are emailed only to users who are away.
	OfflineAfter time.Duration `env:"OFFLINE_AFTER" envDefault:"5m"`
	// EmailPollInterval is how often due digests and queued emails are looked for.
	EmailPollInterval time.Duration `env:"EMAIL_POLL_INTERVAL" envDefault:"1s"`
	// SMTPTimeout bounds one SMTP conversation.
	SMTPTimeout time.Duration `env:"SMTP_TIMEOUT" envDefault:"30s"`
	// EmailRetryBackoff is the wait after a failed send, doubled per attempt up to an hour.
	EmailRetryBackoff time.Duration `env:"EMAIL_RETRY_BACKOFF" envDefault:"30s"`
	// EmailMaxAttempts is how many attempts an email gets before it is given up.
	EmailMaxAttempts int `env:"EMAIL_MAX_ATTEMPTS" envDefault:"10"`
	// NotificationRetention is how long read notifications are kept (0 keeps them for good).
	NotificationRetention time.Duration `env:"NOTIFICATION_RETENTION" envDefault:"2160h"`
	// CleanupInterval is how often old notifications, Notify keys and sent emails are deleted.
	CleanupInterval time.Duration `env:"CLEANUP_INTERVAL" envDefault:"1h"`

	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s"`
}

// defaults is where this service's LISTEN_ADDR and DATABASE_URL defaults come from (config.Start).
var defaults = Config{Service: config.ServiceDefaults("notification", 8085)}

// from parses EMAIL_FROM.
func (c Config) from() (*mail.Address, error) {
	a, err := mail.ParseAddress(c.EmailFrom)
	if err != nil {
		return nil, fmt.Errorf("EMAIL_FROM %q: must be an address like \"Parley <no-reply@example.com>\": %w", c.EmailFrom, err)
	}
	return a, nil
}

// messageIDDomain is the domain of EMAIL_FROM, the right-hand side of Message-IDs.
func messageIDDomain(a *mail.Address) string {
	_, domain, _ := strings.Cut(a.Address, "@")
	return domain
}

// validate refuses values the service cannot work with, naming the variable.
func (c Config) validate() error {
	var problems []error
	if c.DigestDelay <= 0 {
		problems = append(problems, fmt.Errorf("DIGEST_DELAY must be positive, got %v", c.DigestDelay))
	}
	if c.OfflineAfter <= 0 {
		problems = append(problems, fmt.Errorf("OFFLINE_AFTER must be positive, got %v", c.OfflineAfter))
	}
	if c.EmailPollInterval <= 0 || c.SMTPTimeout <= 0 || c.EmailRetryBackoff <= 0 {
		problems = append(problems, errors.New("EMAIL_POLL_INTERVAL, SMTP_TIMEOUT and EMAIL_RETRY_BACKOFF must be positive"))
	}
	if c.EmailMaxAttempts < 1 {
		problems = append(problems, fmt.Errorf("EMAIL_MAX_ATTEMPTS must be at least 1, got %d", c.EmailMaxAttempts))
	}
	if c.NotificationRetention < 0 {
		problems = append(problems, fmt.Errorf("NOTIFICATION_RETENTION must not be negative, got %v", c.NotificationRetention))
	}
	return errors.Join(problems...)
}

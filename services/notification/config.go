package main

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/parleyhq/parley/platform/config"
	"github.com/parleyhq/parley/platform/events"
)

// Config is the notification service's whole configuration, read from the environment.
// docs/notification.md describes every variable.
type Config struct {
	config.Common
	config.Service // LISTEN_ADDR, DATABASE_URL, DATABASE_WAIT, SHUTDOWN_TIMEOUT

	// ConsumerFetchWait is how long the broker may gather events for one batch: under a steady
	// trickle of messages one transaction handles many of them instead of each paying its own.
	// The most it delays a notification. At least 10ms; 0 hands over each event at once.
	ConsumerFetchWait time.Duration `env:"CONSUMER_FETCH_WAIT" envDefault:"50ms"`

	config.Redis    // REDIS_URL
	config.AuthJWKS // AUTH_JWKS_URL
	// INTERNAL_API_TOKEN is the secret other Parley services present to call the internal methods
	// (Notify, SendPasswordReset, SendEmailVerification). Empty refuses every call to them.
	config.InternalAPI
	config.InternalAPIAccepted // INTERNAL_API_TOKEN_ACCEPTED

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

	// PushVAPIDKeyFile holds the VAPID private key (a P-256 scalar, base64url) that signs pushes;
	// empty turns the push channel off.
	PushVAPIDKeyFile string `env:"PUSH_VAPID_KEY_FILE"`
	// PushGenerateVAPIDKey creates PushVAPIDKeyFile with a new key when it does not exist
	// (development: the dev stack keeps it in its data directory).
	PushGenerateVAPIDKey bool `env:"PUSH_GENERATE_VAPID_KEY" envDefault:"false"`
	// PushSubject is the contact push services may use (the JWT's sub): a mailto: or https: URL;
	// empty means mailto: with EMAIL_FROM's address.
	PushSubject string `env:"PUSH_SUBJECT"`
	// PushTTL is how long a push service keeps a push for an offline browser, and how long a push
	// may wait here (retries) before it is given up.
	PushTTL time.Duration `env:"PUSH_TTL" envDefault:"24h"`
	// PushTimeout bounds one request to a push service; a claimed push's lease is twice this.
	PushTimeout time.Duration `env:"PUSH_TIMEOUT" envDefault:"10s"`
	// PushRetryBackoff is the wait after a failed push, doubled per attempt up to an hour.
	PushRetryBackoff time.Duration `env:"PUSH_RETRY_BACKOFF" envDefault:"15s"`
	// PushMaxAttempts is how many attempts a push gets before it is given up.
	PushMaxAttempts int `env:"PUSH_MAX_ATTEMPTS" envDefault:"10"`
	// PushOnlineWindow is how old a presence value may be while the user's connection is still
	// open (the gateways refresh it every 30s): a push waits that long to learn whether they are.
	PushOnlineWindow time.Duration `env:"PUSH_ONLINE_WINDOW" envDefault:"75s"`
	// PushAllowPrivateEndpoints lets pushes go to loopback and private addresses: for a push
	// service on this machine in development and tests only. Never in production: endpoints are
	// URLs users give, and the service requests them (SSRF).
	PushAllowPrivateEndpoints bool `env:"PUSH_ALLOW_PRIVATE_ENDPOINTS" envDefault:"false"`
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
	problems := config.Positive(map[string]time.Duration{
		"DIGEST_DELAY": c.DigestDelay, "OFFLINE_AFTER": c.OfflineAfter, "EMAIL_POLL_INTERVAL": c.EmailPollInterval,
		"SMTP_TIMEOUT": c.SMTPTimeout, "EMAIL_RETRY_BACKOFF": c.EmailRetryBackoff, "PUSH_TIMEOUT": c.PushTimeout,
		"PUSH_RETRY_BACKOFF": c.PushRetryBackoff, "PUSH_ONLINE_WINDOW": c.PushOnlineWindow,
	})
	problems = append(problems, config.Positive(map[string]int{"EMAIL_MAX_ATTEMPTS": c.EmailMaxAttempts, "PUSH_MAX_ATTEMPTS": c.PushMaxAttempts})...)
	problems = append(problems, config.NotNegative(map[string]time.Duration{
		"NOTIFICATION_RETENTION": c.NotificationRetention, "CLEANUP_INTERVAL": c.CleanupInterval,
	})...)
	if err := events.CheckFetchMaxWait(c.ConsumerFetchWait); err != nil {
		problems = append(problems, fmt.Errorf("CONSUMER_FETCH_WAIT %v: %w", c.ConsumerFetchWait, err))
	}
	// Push services keep messages for about four weeks at most.
	if c.PushTTL < time.Second || c.PushTTL > 28*24*time.Hour {
		problems = append(problems, fmt.Errorf("PUSH_TTL must be 1s to 672h (28 days), got %v", c.PushTTL))
	}
	if c.PushSubject != "" && !strings.HasPrefix(c.PushSubject, "mailto:") && !strings.HasPrefix(c.PushSubject, "https://") {
		problems = append(problems, fmt.Errorf("PUSH_SUBJECT %q: must be a mailto: or https: URL", c.PushSubject))
	}
	if c.PushGenerateVAPIDKey && c.PushVAPIDKeyFile == "" {
		problems = append(problems, errors.New("PUSH_GENERATE_VAPID_KEY needs PUSH_VAPID_KEY_FILE: where to keep the key"))
	}
	return errors.Join(problems...)
}

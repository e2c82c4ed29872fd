package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/parleyhq/parley/platform/config"

	"github.com/parleyhq/parley/services/auth/internal/auth"
	"github.com/parleyhq/parley/services/auth/internal/authoidc"
)

// Config is the auth service's whole configuration, read from the environment. docs/auth.md
// describes every variable.
type Config struct {
	config.Common
	config.Service // LISTEN_ADDR, DATABASE_URL, DATABASE_WAIT, SHUTDOWN_TIMEOUT

	AccessTokenTTL  time.Duration `env:"ACCESS_TOKEN_TTL" envDefault:"15m"`
	RefreshTokenTTL time.Duration `env:"REFRESH_TOKEN_TTL" envDefault:"720h"`

	// SigningKeyFile holds the private JWK access tokens are signed with.
	SigningKeyFile string `env:"AUTH_SIGNING_KEY_FILE"`
	// GenerateSigningKey creates SigningKeyFile (Ed25519, mode 0600) when it does not exist.
	GenerateSigningKey bool `env:"AUTH_GENERATE_SIGNING_KEY" envDefault:"false"`
	// PreviousPublicKeysFile is a JWKS of retired signing keys' public halves, still published so
	// tokens they signed stay valid until they expire.
	PreviousPublicKeysFile string `env:"AUTH_PREVIOUS_PUBLIC_KEYS_FILE"`
	// TOTPKeyFile holds the key two-factor secrets are encrypted with (32 bytes, base64).
	TOTPKeyFile string `env:"AUTH_TOTP_KEY_FILE"`
	// GenerateTOTPKey creates TOTPKeyFile (mode 0600) when it does not exist.
	GenerateTOTPKey bool          `env:"AUTH_GENERATE_TOTP_KEY" envDefault:"false"`
	JWKSMaxAge      time.Duration `env:"AUTH_JWKS_MAX_AGE" envDefault:"5m"`

	Argon2MemoryKiB uint32 `env:"AUTH_ARGON2_MEMORY_KIB" envDefault:"32768"`
	Argon2Time      uint32 `env:"AUTH_ARGON2_TIME" envDefault:"2"`
	Argon2Threads   uint8  `env:"AUTH_ARGON2_THREADS" envDefault:"1"`
	// PasswordHashConcurrency bounds the hashes computed at once (0: one per CPU); each holds
	// Argon2MemoryKiB of memory.
	PasswordHashConcurrency int `env:"AUTH_PASSWORD_HASH_CONCURRENCY" envDefault:"0"`
	// PasswordHashQueueTimeout is how long a request may wait for a hashing slot before it gets
	// ResourceExhausted.
	PasswordHashQueueTimeout time.Duration `env:"AUTH_PASSWORD_HASH_QUEUE_TIMEOUT" envDefault:"5s"`

	// Login throttling (auth.ThrottlePolicy; docs/auth.md "Login throttling").
	LoginFreeFailures       int           `env:"AUTH_LOGIN_FREE_FAILURES" envDefault:"5"`
	LoginBackoffBase        time.Duration `env:"AUTH_LOGIN_BACKOFF_BASE" envDefault:"1s"`
	LoginBackoffMax         time.Duration `env:"AUTH_LOGIN_BACKOFF_MAX" envDefault:"15m"`
	LoginFailureMemory      time.Duration `env:"AUTH_LOGIN_FAILURE_MEMORY" envDefault:"24h"`
	LoginAccountMaxFailures int           `env:"AUTH_LOGIN_ACCOUNT_MAX_FAILURES" envDefault:"50"`
	LoginAccountWindow      time.Duration `env:"AUTH_LOGIN_ACCOUNT_WINDOW" envDefault:"15m"`
	LoginFamiliarClientTTL  time.Duration `env:"AUTH_LOGIN_FAMILIAR_CLIENT_TTL" envDefault:"720h"`
	// Password reset by email (auth.ResetPolicy; docs/auth.md "Password reset"). The emails are
	// sent by the notification service at NOTIFICATION_URL, called with INTERNAL_API_TOKEN; without
	// the token RequestPasswordReset answers FailedPrecondition.
	config.NotificationPeer
	config.InternalAPI
	PasswordResetTTL        time.Duration `env:"AUTH_PASSWORD_RESET_TTL" envDefault:"30m"`
	PasswordResetsPerEmail  int           `env:"AUTH_PASSWORD_RESETS_PER_EMAIL" envDefault:"3"`
	PasswordResetsPerClient int           `env:"AUTH_PASSWORD_RESETS_PER_CLIENT" envDefault:"20"`
	PasswordResetWindow     time.Duration `env:"AUTH_PASSWORD_RESET_WINDOW" envDefault:"1h"`

	// TrustedProxies are the CIDRs of proxies in front of the gateway (the gateway's
	// TRUSTED_PROXIES): their X-Forwarded-For hops are skipped when finding the client.
	TrustedProxies []string `env:"AUTH_TRUSTED_PROXIES" envSeparator:","`

	// OAuthProviders lists the ids of the OpenID Connect providers for "sign in with…", in display
	// order; each is configured by AUTH_OAUTH_<ID>_* variables (see oauthConfigs).
	OAuthProviders []string `env:"AUTH_OAUTH_PROVIDERS" envSeparator:","`
	// OAuthFlowTTL bounds the time between BeginOAuth and CompleteOAuth.
	OAuthFlowTTL time.Duration `env:"AUTH_OAUTH_FLOW_TTL" envDefault:"10m"`

	// Passkeys (auth.PasskeyConfig; docs/auth.md "Passkeys"): off while PasskeyOrigins is empty.
	// PasskeyRPID defaults to the host of the first origin.
	PasskeyRPID        string        `env:"AUTH_PASSKEY_RP_ID"`
	PasskeyRPName      string        `env:"AUTH_PASSKEY_RP_NAME" envDefault:"Parley"`
	PasskeyOrigins     []string      `env:"AUTH_PASSKEY_ORIGINS" envSeparator:","`
	PasskeyCeremonyTTL time.Duration `env:"AUTH_PASSKEY_CEREMONY_TTL" envDefault:"5m"`

	// SessionCleanupInterval is how often expired sessions and their refresh tokens are deleted.
	SessionCleanupInterval time.Duration `env:"AUTH_SESSION_CLEANUP_INTERVAL" envDefault:"1h"`
}

// defaults is where this service's LISTEN_ADDR and DATABASE_URL defaults come from (config.Start).
var defaults = Config{Service: config.ServiceDefaults("auth", 8081)}

func (c Config) argon2Params() auth.Argon2Params {
	return auth.Argon2Params{MemoryKiB: c.Argon2MemoryKiB, Time: c.Argon2Time, Threads: c.Argon2Threads}
}

func (c Config) throttlePolicy() auth.ThrottlePolicy {
	return auth.ThrottlePolicy{
		FreeFailures:       c.LoginFreeFailures,
		BaseDelay:          c.LoginBackoffBase,
		MaxDelay:           c.LoginBackoffMax,
		ForgetAfter:        c.LoginFailureMemory,
		AccountMaxFailures: c.LoginAccountMaxFailures,
		AccountWindow:      c.LoginAccountWindow,
		FamiliarFor:        c.LoginFamiliarClientTTL,
	}
}

func (c Config) passkeyConfig() auth.PasskeyConfig {
	return auth.PasskeyConfig{RPID: c.PasskeyRPID, RPDisplayName: c.PasskeyRPName, Origins: splitList(strings.Join(c.PasskeyOrigins, ",")), CeremonyTTL: c.PasskeyCeremonyTTL}
}

func (c Config) hashConcurrency() int {
	if c.PasswordHashConcurrency > 0 {
		return c.PasswordHashConcurrency
	}
	return runtime.GOMAXPROCS(0)
}

// oauthConfigs reads each provider listed in AUTH_OAUTH_PROVIDERS from its own variables, named by
// the upper-cased id (non-alphanumerics become '_'): for "google",
//
//	AUTH_OAUTH_GOOGLE_ISSUER         https://accounts.google.com (required)
//	AUTH_OAUTH_GOOGLE_CLIENT_ID      (required)
//	AUTH_OAUTH_GOOGLE_CLIENT_SECRET  (optional: public clients rely on PKCE alone)
//	AUTH_OAUTH_GOOGLE_REDIRECT_URIS  comma-separated, exact match (required)
//	AUTH_OAUTH_GOOGLE_DISPLAY_NAME   button text (default: the id)
//	AUTH_OAUTH_GOOGLE_SCOPES         comma-separated (default: openid,email,profile)
func (c Config) oauthConfigs() ([]authoidc.Config, error) {
	var out []authoidc.Config
	seen := map[string]bool{}
	for _, id := range c.OAuthProviders {
		id = strings.TrimSpace(id)
		if id == "" {
			continue
		}
		if seen[id] {
			return nil, fmt.Errorf("AUTH_OAUTH_PROVIDERS lists %q twice", id)
		}
		seen[id] = true
		prefix := "AUTH_OAUTH_" + envName(id) + "_"
		pc := authoidc.Config{
			ID:           id,
			DisplayName:  os.Getenv(prefix + "DISPLAY_NAME"),
			Issuer:       os.Getenv(prefix + "ISSUER"),
			ClientID:     os.Getenv(prefix + "CLIENT_ID"),
			ClientSecret: os.Getenv(prefix + "CLIENT_SECRET"),
			RedirectURIs: splitList(os.Getenv(prefix + "REDIRECT_URIS")),
			Scopes:       splitList(os.Getenv(prefix + "SCOPES")),
		}
		var missing []string
		for name, v := range map[string]string{"ISSUER": pc.Issuer, "CLIENT_ID": pc.ClientID} {
			if v == "" {
				missing = append(missing, prefix+name)
			}
		}
		if len(pc.RedirectURIs) == 0 {
			missing = append(missing, prefix+"REDIRECT_URIS")
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("OAuth provider %q: set %s", id, strings.Join(missing, ", "))
		}
		out = append(out, pc)
	}
	return out, nil
}

func envName(id string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, id)
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// validate refuses values that parse but cannot work, naming each variable. The signing keys,
// Argon2 parameters, OAuth providers, login throttle and trusted proxies are checked where they
// are parsed (in run), because parsing them is the check. AUTH_PASSKEY_RP_ID is not: the dev
// stack lists an origin outside it on purpose (127.0.0.1 beside localhost).
func (c Config) validate() error {
	errs := config.Positive(map[string]time.Duration{
		"ACCESS_TOKEN_TTL": c.AccessTokenTTL, "REFRESH_TOKEN_TTL": c.RefreshTokenTTL, "AUTH_OAUTH_FLOW_TTL": c.OAuthFlowTTL,
		"AUTH_PASSKEY_CEREMONY_TTL": c.PasskeyCeremonyTTL, "AUTH_PASSWORD_RESET_TTL": c.PasswordResetTTL,
		"AUTH_PASSWORD_RESET_WINDOW": c.PasswordResetWindow,
	})
	errs = append(errs, config.Positive(map[string]int{
		"AUTH_PASSWORD_RESETS_PER_EMAIL": c.PasswordResetsPerEmail, "AUTH_PASSWORD_RESETS_PER_CLIENT": c.PasswordResetsPerClient,
	})...)
	// Zero keeps a meaning of its own: a JWKS not to be cached, a hash per CPU.
	errs = append(errs, config.NotNegative(map[string]time.Duration{"AUTH_JWKS_MAX_AGE": c.JWKSMaxAge})...)
	errs = append(errs, config.NotNegative(map[string]int{"AUTH_PASSWORD_HASH_CONCURRENCY": c.PasswordHashConcurrency})...)
	if c.SessionCleanupInterval < 0 {
		errs = append(errs, fmt.Errorf("AUTH_SESSION_CLEANUP_INTERVAL %v: must be 0 (no clean-up) or more", c.SessionCleanupInterval))
	}
	for _, origin := range c.passkeyConfig().Origins {
		if _, err := auth.PasskeyOriginHost(origin); err != nil {
			errs = append(errs, fmt.Errorf("AUTH_PASSKEY_ORIGINS: %w", err))
		}
	}
	return errors.Join(errs...)
}

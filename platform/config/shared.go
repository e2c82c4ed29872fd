package config

import "strings"

// The variables below are read by some processes, not all, with the same meaning and default in
// each: a Config embeds the struct of each one it reads, where the field would stand, so the field
// keeps its name (cfg.RedisURL) and Attrs logs it in that place. The line comment after the
// embedded struct names the variable, as for Service.

// AuthJWKS is AUTH_JWKS_URL: where a process that checks access tokens fetches auth's public keys
// (authn.NewRemoteJWKS). Every process but auth, which checks its own tokens.
type AuthJWKS struct {
	AuthJWKSURL string `env:"AUTH_JWKS_URL" envDefault:"http://127.0.0.1:8081/.well-known/jwks.json"`
}

// AuthJWKSVars is the AuthJWKS a Config embeds: platform/startup checks access tokens on the
// Connect handlers of a service whose Config has it.
func (a AuthJWKS) AuthJWKSVars() AuthJWKS { return a }

// Redis is REDIS_URL (redisconn.Open, whose errors name it; its password is masked in the
// configuration line).
type Redis struct {
	RedisURL string `env:"REDIS_URL" envDefault:"redis://127.0.0.1:6379"`
}

// InternalAPI is INTERNAL_API_TOKEN, the shared secret of calls between Parley services (sent and
// checked in authn.InternalTokenHeader, compared with authn.InternalTokens). No default; masked in the
// configuration line. What an empty one turns off is each service's to say.
type InternalAPI struct {
	InternalAPIToken string `env:"INTERNAL_API_TOKEN" secret:"true"`
}

// InternalAPIAccepted is INTERNAL_API_TOKEN_ACCEPTED, read by the services that take internal
// calls (media, notification): a comma-separated list of further tokens they accept but nobody
// sends — the new token while it is rolled out, the old one while callers still send it — so that
// rotating INTERNAL_API_TOKEN refuses nothing (docs/operations.md). Masked in the configuration
// line.
type InternalAPIAccepted struct {
	InternalAPITokenAccepted string `env:"INTERNAL_API_TOKEN_ACCEPTED" secret:"true"`
}

// AcceptedInternalTokens is what an internal call may present: token (INTERNAL_API_TOKEN), then
// each of INTERNAL_API_TOKEN_ACCEPTED's; none when token is empty (internal calls are off).
func (c InternalAPIAccepted) AcceptedInternalTokens(token string) []string {
	if token == "" {
		return nil
	}
	accepted := []string{token}
	for t := range strings.SplitSeq(c.InternalAPITokenAccepted, ",") {
		if t = strings.TrimSpace(t); t != "" {
			accepted = append(accepted, t)
		}
	}
	return accepted
}

// The peers' URLs: a Parley service's public port as another process calls it (h2c), by default
// on this host at the service's port (docs/service-conventions.md has the table).

// AuthPeer is AUTH_URL.
type AuthPeer struct {
	AuthURL string `env:"AUTH_URL" envDefault:"http://127.0.0.1:8081"`
}

// ProfilePeer is PROFILE_URL.
type ProfilePeer struct {
	ProfileURL string `env:"PROFILE_URL" envDefault:"http://127.0.0.1:8082"`
}

// FriendPeer is FRIEND_URL.
type FriendPeer struct {
	FriendURL string `env:"FRIEND_URL" envDefault:"http://127.0.0.1:8083"`
}

// ChatPeer is CHAT_URL.
type ChatPeer struct {
	ChatURL string `env:"CHAT_URL" envDefault:"http://127.0.0.1:8084"`
}

// NotificationPeer is NOTIFICATION_URL.
type NotificationPeer struct {
	NotificationURL string `env:"NOTIFICATION_URL" envDefault:"http://127.0.0.1:8085"`
}

// MediaPeer is MEDIA_URL.
type MediaPeer struct {
	MediaURL string `env:"MEDIA_URL" envDefault:"http://127.0.0.1:8086"`
}

// S3Endpoints is S3_ENDPOINT, S3's API as Parley's processes reach it, and S3_PUBLIC_ENDPOINT, the
// same as browsers reach it (where they post uploads), when that differs. Media talks to S3; the
// gateway names the browsers' endpoint in the web app's Content-Security-Policy.
type S3Endpoints struct {
	S3Endpoint       string `env:"S3_ENDPOINT" envDefault:"http://127.0.0.1:9000"`
	S3PublicEndpoint string `env:"S3_PUBLIC_ENDPOINT"`
}

// BrowserS3Endpoint is S3 as browsers reach it: S3_PUBLIC_ENDPOINT, or S3_ENDPOINT when that is
// empty.
func (e S3Endpoints) BrowserS3Endpoint() string {
	if e.S3PublicEndpoint != "" {
		return e.S3PublicEndpoint
	}
	return e.S3Endpoint
}

// BrowserS3Variable is the variable BrowserS3Endpoint's value comes from, for errors that name it.
func (e S3Endpoints) BrowserS3Variable() string {
	if e.S3PublicEndpoint != "" {
		return "S3_PUBLIC_ENDPOINT"
	}
	return "S3_ENDPOINT"
}

// MediaPublic is MEDIA_PUBLIC_URL: the origin media's download links start with (the gateway,
// which routes /media/ to media).
type MediaPublic struct {
	MediaPublicURL string `env:"MEDIA_PUBLIC_URL" envDefault:"http://127.0.0.1:8080"`
}

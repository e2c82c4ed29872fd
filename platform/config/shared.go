package config

// The variables below are read by some processes, not all, with the same meaning and default in
// each: a Config embeds the struct of each one it reads, where the field would stand, so the field
// keeps its name (cfg.RedisURL) and Attrs logs it in that place. The line comment after the
// embedded struct names the variable, as for Service.

// AuthJWKS is AUTH_JWKS_URL: where a process that checks access tokens fetches auth's public keys
// (authn.NewRemoteJWKS). Every process but auth, which checks its own tokens.
type AuthJWKS struct {
	AuthJWKSURL string `env:"AUTH_JWKS_URL" envDefault:"http://127.0.0.1:8081/.well-known/jwks.json"`
}

// Redis is REDIS_URL (redisconn.Open, whose errors name it; its password is masked in the
// configuration line).
type Redis struct {
	RedisURL string `env:"REDIS_URL" envDefault:"redis://127.0.0.1:6379"`
}

// InternalAPI is INTERNAL_API_TOKEN, the shared secret of calls between Parley services (sent and
// checked in authn.InternalTokenHeader, compared with authn.SecretEqual). No default; masked in
// the configuration line. What an empty one turns off is each service's to say.
type InternalAPI struct {
	InternalAPIToken string `env:"INTERNAL_API_TOKEN" secret:"true"`
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

// MediaPublic is MEDIA_PUBLIC_URL: the origin media's download links start with (the gateway,
// which routes /media/ to media).
type MediaPublic struct {
	MediaPublicURL string `env:"MEDIA_PUBLIC_URL" envDefault:"http://127.0.0.1:8080"`
}

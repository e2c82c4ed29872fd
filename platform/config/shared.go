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
